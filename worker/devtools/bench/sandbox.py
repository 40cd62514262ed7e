"""What the benchmark reads from the sandbox: its recorded admin API calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

CALL_PATH = "/api/gateway_groups"


@dataclass(frozen=True)
class Call:
    """One recorded call: when it arrived, how long the sandbox took, its answer and Idempotency-Key."""

    time: float
    duration_ms: float
    status: int
    key: str

    @property
    def finished(self) -> float:
        """When the sandbox answered (wall clock)."""
        return self.time + self.duration_ms / 1000


def calls(sandbox_url: str) -> list[Call]:
    """Every recorded call to ``CALL_PATH``, oldest first."""
    response = httpx.get(f"{sandbox_url}/_sandbox/requests", params={"path": CALL_PATH}, timeout=30)
    response.raise_for_status()
    records: list[dict[str, Any]] = response.json()
    return [Call(r["time"], r["duration_ms"], r["status"], r["idempotency_key"] or "") for r in records]


def clear(sandbox_url: str) -> None:
    """Forget every recorded request."""
    httpx.delete(f"{sandbox_url}/_sandbox/requests", timeout=10).raise_for_status()
