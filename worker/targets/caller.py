"""What an API operation needs of a client: its name, its target's config, and ``call``.

``coding``, ``api7_tokens``, ``envelopes`` and ``kinds`` type against ``Caller``, not ``TargetClient``, so the client
can use the kinds table without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from worker.config import TargetConfig


@dataclass(frozen=True)
class CallResult:
    """A successful call: status and parsed JSON body (None when empty or not JSON); the body stays out of reprs."""

    status_code: int
    body: Any = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


class Caller(Protocol):
    """A client of one admin API target (``TargetClient`` is the one implementation)."""

    @property
    def name(self) -> str:
        """The target's name."""
        ...

    @property
    def config(self) -> TargetConfig:
        """The target's configuration."""
        ...

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> CallResult:
        """Make one call; raise a ``TargetError`` for a failure."""
        ...
