"""Periodic maintenance jobs run by beat."""

from __future__ import annotations

from worker.celery_app import app


@app.task(name="relay.sweep_events")
def sweep_events() -> int:
    """Re-queue events left ``queued`` with no live message (placeholder until the sweeper lands)."""
    return 0
