"""The fault suite: Relay on real processes, under kills, restarts and a failing admin API (``relay chaos``).

cluster           the processes: embedded Redis with its append-only file, sandbox, receiver, two workers, beat
run, report       the calls workload: steady deliveries whose calls create at the sandbox while a worker is SIGKILLed
                  every few seconds, Redis and the receiver restarted and tokens rotated; every acknowledged event
                  accounted for, no create applied twice, no token lost
reconcile,        the reconcile workload: pushes of a changing ADC file (gateway_files) to a repository served behind
reconcile_report  a token (repository), under the same kills and faults; the gateway group ends at the newest
                  revision, no write took effect twice or out of order, nothing Relay does not own touched
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from worker.devtools.chaos.reconcile import run_reconcile
from worker.devtools.chaos.report import Report
from worker.devtools.chaos.run import ChaosPlan, run


class ChaosReport(Protocol):
    """What a workload's run returns."""

    @property
    def ok(self) -> bool:
        """Whether every check held."""
        ...

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        ...

    def lines(self) -> list[tuple[str, Any]]:
        """Labelled figures to print."""
        ...


WORKLOADS: dict[str, Callable[[ChaosPlan, Path], ChaosReport]] = {"calls": run, "reconcile": run_reconcile}

__all__ = ["WORKLOADS", "ChaosPlan", "ChaosReport", "Report", "run", "run_reconcile"]
