"""Injectable faults: error statuses, latency and 429 with Retry-After, consumed in order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from worker.sandbox.web import is_int

FAULT_KEYS = frozenset({"status", "count", "retry_after", "latency_ms", "path", "method"})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
MAX_LATENCY_MS = 60_000


class FaultError(ValueError):
    """A fault description that cannot be used."""


@dataclass(frozen=True)
class Fault:
    """One fault, applied to the next `count` matching requests."""

    count: int = 1
    status: int | None = None
    retry_after: int | None = None
    latency_ms: float = 0
    path: str = ""
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this fault applies to a request."""
        return path.startswith(self.path) and (self.method is None or self.method == method)

    def public(self) -> dict[str, Any]:
        """Return the fault as the control API shows it."""
        return {
            "status": self.status,
            "count": self.count,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "path": self.path or None,
            "method": self.method,
        }


def parse_fault(raw: object) -> Fault:
    """Check one fault description."""
    if not isinstance(raw, dict):
        raise FaultError("a fault must be a JSON object")
    unknown = set(raw) - FAULT_KEYS
    if unknown:
        raise FaultError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    status, count = raw.get("status"), raw.get("count", 1)
    retry_after, latency = raw.get("retry_after"), raw.get("latency_ms", 0)
    path, method = raw.get("path", ""), raw.get("method")
    if status is not None and (not is_int(status) or not 400 <= status <= 599):
        raise FaultError("status must be an integer between 400 and 599")
    if not is_int(count) or count < 1:
        raise FaultError("count must be an integer >= 1")
    if retry_after is not None and (not is_int(retry_after) or retry_after < 0):
        raise FaultError("retry_after must be a non-negative integer (seconds)")
    if retry_after is not None and status is None:
        raise FaultError("retry_after needs a status (usually 429 or 503)")
    if isinstance(latency, bool) or not isinstance(latency, int | float) or not 0 <= latency <= MAX_LATENCY_MS:
        raise FaultError(f"latency_ms must be a number between 0 and {MAX_LATENCY_MS}")
    if status is None and not latency:
        raise FaultError("a fault needs a status, a latency_ms, or both")
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise FaultError("path must be a prefix starting with /")
    if method is not None and (not isinstance(method, str) or method.upper() not in METHODS):
        raise FaultError(f"method must be one of {', '.join(sorted(METHODS))}")
    return Fault(
        count=count,
        status=status,
        retry_after=retry_after,
        latency_ms=latency,
        path=path,
        method=method.upper() if method else None,
    )


def parse_faults(payload: object) -> list[Fault]:
    """Check a fault description or a list of them."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise FaultError("no fault given")
    return [parse_fault(item) for item in items]


class FaultQueue:
    """Faults waiting to be applied, first added first used."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, faults: list[Fault]) -> None:
        """Append faults to the queue."""
        self._faults.extend(faults)

    def clear(self) -> int:
        """Drop every fault; return how many there were."""
        dropped = len(self._faults)
        self._faults.clear()
        return dropped

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching a request."""
        for index, fault in enumerate(self._faults):
            if fault.matches(method, path):
                if fault.count > 1:
                    self._faults[index] = replace(fault, count=fault.count - 1)
                else:
                    del self._faults[index]
                return fault
        return None

    def public(self) -> list[dict[str, Any]]:
        """Return the pending faults."""
        return [fault.public() for fault in self._faults]
