"""Processing one event: its run (``tasks.run.EventRun``), and what becomes of it when a run is cut short.

Plain functions over a ``Runtime`` so they can be tested without Celery; the task in ``tasks.process``
only turns the outcome into a Celery retry.
"""

from __future__ import annotations

from tasks import telemetry
from tasks.run import EventRun, RunOutcome, retries_spent
from worker.errors import CorruptRecord
from worker.runtime import Runtime
from worker.store.events import FINAL_STATUSES, EventRecord, EventStatus
from worker.targets.retry import backoff_delay

__all__ = ["RunOutcome", "fail", "interrupted", "process"]


def process(runtime: Runtime, event_id: str) -> RunOutcome:
    """Run the event's matching rules once and record what happened; one run per event at a time."""
    return EventRun(runtime, event_id).run()


def interrupted(runtime: Runtime, event_id: str, reason: str) -> RunOutcome:
    """An attempt cut short (a time limit): retry later like a transient failure, or give up past the budget."""
    record = runtime.events.get(event_id)
    limits = runtime.settings.celery
    if retries_spent(record.attempts, limits):
        return _finish(runtime, record, EventStatus.FAILED, f"{reason}; gave up after {record.attempts} attempts")
    record.status = EventStatus.RETRYING
    record.error = reason
    runtime.events.save_status(record)
    return RunOutcome(EventStatus.RETRYING, retry_in=backoff_delay(record.attempts, cap=limits.retry_backoff_max))


def fail(runtime: Runtime, event_id: str, error: str) -> None:
    """Dead-letter an event after an unexpected error, so it is never left silently ``running``."""
    try:
        record = runtime.events.get(event_id)
    except CorruptRecord as exc:
        runtime.events.dead_letter_corrupt(event_id, f"{error}; {exc}")
        return
    if record.status not in FINAL_STATUSES:
        _finish(runtime, record, EventStatus.FAILED, error)


def _finish(runtime: Runtime, record: EventRecord, status: EventStatus, error: str | None) -> RunOutcome:
    record.status = status
    record.error = error
    runtime.events.save_status(record, also=telemetry.finished(runtime, record))
    return RunOutcome(status)
