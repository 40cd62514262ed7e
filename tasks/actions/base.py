"""What every action kind's runner provides, and the pieces the kinds share.

A runner renders its action's templates (``plan``: also what ``relay rules test`` shows), runs it (``run``), and
describes a dry run; the pipeline and the rules CLI reach it only through ``tasks.actions.RUNNERS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from worker.config import Action, Settings
from worker.runtime import Runtime
from worker.store.events import ActionResult

A = TypeVar("A", bound=Action)
R = TypeVar("R")


def idempotency_key(event_id: str, rule: str, index: int) -> str:
    """An action's Idempotency-Key (and result key): the same on every attempt, in a real run and a dry run."""
    return f"{event_id}:{rule}:{index}"


@dataclass(frozen=True)
class Step:
    """Where an action runs: its rule, its position in the rule's ``do``, and its Idempotency-Key."""

    rule: str
    index: int
    key: str

    def result(self, action: Action, *, status_code: int | None, detail: dict[str, Any]) -> ActionResult:
        """The result of this step's action having taken effect."""
        return ActionResult(
            key=self.key,
            rule=self.rule,
            index=self.index,
            kind=action.kind,
            target=action.address,
            ok=True,
            status_code=status_code,
            detail=detail,
        )


@dataclass(frozen=True)
class PlannedAction:
    """One action of a dry run: what it would send, or why it could not be rendered."""

    index: int
    action: Action
    request: Any
    error: str | None = None


class Runner(ABC, Generic[A, R]):
    """One action kind: ``R`` is the action as it will be sent, its templates rendered."""

    kind: str

    @abstractmethod
    def plan(self, action: A, context: dict[str, Any]) -> R:
        """Render the action without sending it; raises ``RuleError``."""

    @abstractmethod
    def run(self, runtime: Runtime, action: A, step: Step, context: dict[str, Any]) -> ActionResult:
        """Run the action once; raises a ``TargetError`` or ``RuleError`` when it fails."""

    @abstractmethod
    def templates(self, action: A) -> dict[str, Any]:
        """The action's fields that may hold templates, by their name in the configuration."""

    @abstractmethod
    def preview(self, settings: Settings, action: A, request: R, key: str, context: dict[str, Any]) -> dict[str, Any]:
        """What ``relay rules test --json`` shows for the rendered action, secrets masked."""

    @abstractmethod
    def report_lines(self, entry: dict[str, Any]) -> list[str]:
        """The text lines under the action's heading in ``relay rules test``, from its ``preview``."""

    def problems(self, action: A) -> Iterator[tuple[str, str]]:
        """``(field, problem)`` for what ``relay rules check`` finds wrong beyond references and templates."""
        return iter(())

    def restore(self, action: A, result: ActionResult, context: dict[str, Any]) -> None:
        """Give later actions what a done action left them, when a rerun skips it (nothing by default)."""


def indent(text: str, spaces: int) -> str:
    """``text`` with every line indented by ``spaces``."""
    return "\n".join(" " * spaces + line for line in text.splitlines())
