"""Injectable faults: error statuses, 429 with Retry-After and latency, counted or at a rate, per route or global."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from worker.devtools.sandbox.web import is_int

FAULT_KEYS = frozenset({"status", "count", "rate", "retry_after", "latency_ms", "path", "method", "when"})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
WHEN = frozenset({"before", "after"})
MAX_LATENCY_MS = 60_000


class FaultError(ValueError):
    """A fault description that cannot be used."""


@dataclass(frozen=True)
class Fault:
    """One fault: `count` uses (None: until cleared), each matching request hit with probability `rate`."""

    count: int | None = 1
    rate: float = 1.0
    status: int | None = None
    retry_after: int | None = None
    latency_ms: float = 0
    path: str = ""
    method: str | None = None
    # "before": the request is not handled (no effect); "after": it is handled, then its answer is delayed/replaced.
    when: str = "before"

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this fault applies to a request."""
        return path.startswith(self.path) and (self.method is None or self.method == method)

    def public(self) -> dict[str, Any]:
        """Return the fault as the control API shows it."""
        return {
            "status": self.status,
            "count": self.count,
            "rate": self.rate,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "path": self.path or None,
            "method": self.method,
            "when": self.when,
        }


def _check_effect(raw: dict[str, Any]) -> None:
    status, retry_after, latency = raw.get("status"), raw.get("retry_after"), raw.get("latency_ms", 0)
    if status is not None and (not is_int(status) or not 400 <= status <= 599):
        raise FaultError("status must be an integer between 400 and 599")
    if retry_after is not None and (not is_int(retry_after) or retry_after < 0):
        raise FaultError("retry_after must be a non-negative integer (seconds)")
    if retry_after is not None and status is None:
        raise FaultError("retry_after needs a status (usually 429 or 503)")
    if isinstance(latency, bool) or not isinstance(latency, int | float) or not 0 <= latency <= MAX_LATENCY_MS:
        raise FaultError(f"latency_ms must be a number between 0 and {MAX_LATENCY_MS}")
    if status is None and not latency:
        raise FaultError("a fault needs a status, a latency_ms, or both")
    if raw.get("when", "before") not in WHEN:
        raise FaultError("when must be before or after")


def _check_scope(raw: dict[str, Any]) -> None:
    count, rate = raw.get("count", 1), raw.get("rate", 1.0)
    path, method = raw.get("path", ""), raw.get("method")
    if count is not None and (not is_int(count) or count < 1):
        raise FaultError("count must be an integer >= 1 (or null with a rate: until cleared)")
    if count is None and "rate" not in raw:
        raise FaultError("count null (until cleared) needs a rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise FaultError("rate must be a number in (0, 1]")
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise FaultError("path must be a prefix starting with /")
    if method is not None and (not isinstance(method, str) or method.upper() not in METHODS):
        raise FaultError(f"method must be one of {', '.join(sorted(METHODS))}")


def parse_fault(raw: object) -> Fault:
    """Check one fault description."""
    if not isinstance(raw, dict):
        raise FaultError("a fault must be a JSON object")
    unknown = set(raw) - FAULT_KEYS
    if unknown:
        raise FaultError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    _check_effect(raw)
    _check_scope(raw)
    # With a rate and no count the fault stays until cleared: "20% of calls fail" for the whole run.
    count = raw.get("count", None if "rate" in raw else 1)
    method = raw.get("method")
    return Fault(
        count=count,
        rate=float(raw.get("rate", 1.0)),
        status=raw.get("status"),
        retry_after=raw.get("retry_after"),
        latency_ms=raw.get("latency_ms", 0),
        path=raw.get("path", ""),
        method=method.upper() if method else None,
        when=raw.get("when", "before"),
    )


def parse_faults(payload: object) -> list[Fault]:
    """Check a fault description or a list of them."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise FaultError("no fault given")
    return [parse_fault(item) for item in items]


@dataclass
class _Pending:
    fault: Fault
    left: int | None
    fired: int = 0


@dataclass
class FaultQueue:
    """Faults waiting to be applied, first added first tried; `rng` decides rate-limited faults."""

    rng: random.Random = field(default_factory=random.Random)
    _pending: list[_Pending] = field(default_factory=list)

    def add(self, faults: list[Fault]) -> None:
        """Append faults to the queue."""
        self._pending.extend(_Pending(f, f.count) for f in faults)

    def clear(self) -> int:
        """Drop every fault; return how many there were."""
        dropped = len(self._pending)
        self._pending.clear()
        return dropped

    def take(self, method: str, path: str) -> Fault | None:
        """Return the first matching fault that fires for this request, using up one of its uses."""
        for index, pending in enumerate(self._pending):
            fault = pending.fault
            if not fault.matches(method, path) or (fault.rate < 1 and self.rng.random() >= fault.rate):
                continue
            pending.fired += 1
            if pending.left is not None:
                pending.left -= 1
                if pending.left == 0:
                    del self._pending[index]
            return fault
        return None

    def public(self) -> list[dict[str, Any]]:
        """Return the pending faults, with the uses left (`count`) and how often each fired."""
        return [{**p.fault.public(), "count": p.left, "fired": p.fired} for p in self._pending]
