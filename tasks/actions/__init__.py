"""Running one action of a rule: one runner per action kind, chosen from ``RUNNERS`` by the action's ``kind``.

A new action kind is its model in ``worker/config/rules.py``, its runner module here (listed in ``RUNNERS``), and its
tests. Rendering is separate from sending so that ``relay rules test`` shows exactly what a real run would send.
"""

from __future__ import annotations

from typing import Any

from tasks.actions.base import PlannedAction, Runner, Step, idempotency_key
from tasks.actions.call import CallRunner
from tasks.actions.notify import NotifyRunner
from tasks.actions.sync import SyncRunner
from worker.config import Action, Rule
from worker.errors import RuleError
from worker.runtime import Runtime
from worker.store.events import ActionResult

RUNNERS: dict[str, Runner[Any, Any]] = {runner.kind: runner for runner in (CallRunner(), NotifyRunner(), SyncRunner())}

__all__ = ["RUNNERS", "PlannedAction", "Runner", "Step", "idempotency_key", "plan_rule", "run_action", "runner_for"]


def runner_for(action: Action) -> Runner[Any, Any]:
    """The runner of the action's kind."""
    return RUNNERS[action.kind]


def run_action(runtime: Runtime, action: Action, step: Step, context: dict[str, Any]) -> ActionResult:
    """Run ``action`` once; raises a ``TargetError`` or ``RuleError`` when it fails."""
    return runner_for(action).run(runtime, action, step, context)


def plan_rule(rule: Rule, context: dict[str, Any]) -> list[PlannedAction]:
    """Render every action of ``rule`` without sending; stops at the first one that fails, as a real run would."""
    planned: list[PlannedAction] = []
    for index, action in enumerate(rule.do):
        try:
            request = runner_for(action).plan(action, context)
        except RuleError as exc:
            planned.append(PlannedAction(index, action, None, error=str(exc)))
            break
        planned.append(PlannedAction(index, action, request))
    return planned
