"""What a fault run did, as it did it: each delivery as the sender saw it, and each fault injected."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Posted:
    """One delivery as the sender saw it."""

    at: float
    status: int | None
    event_id: str | None = None


@dataclass
class Timeline:
    """What was sent and what was done to the cluster, and when."""

    posted: list[Posted] = field(default_factory=list)
    faults: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class Pushes:
    """The commits a reconcile run pushed, oldest first, and which commit each acknowledged delivery named."""

    shas: list[str] = field(default_factory=list)
    by_event: dict[str, str] = field(default_factory=dict)
    broken: str | None = None  # the commit whose file Relay must refuse
