"""Periodic maintenance jobs run by beat. Each is safe to run twice, or on two beats at once."""

from __future__ import annotations

import logging

from worker.celery_app import EVENTS_QUEUE, PROCESS_EVENT, RECOVER_INTERVAL_SECONDS, app, event_messages
from worker.liveness import recovery
from worker.liveness.canary import CANARY_INTERVAL_SECONDS
from worker.ops import health
from worker.runtime import Runtime, get_runtime
from worker.store import deadletters
from worker.store.locks import job_lock, release_quietly
from worker.store.messages import live_task_arguments

log = logging.getLogger("relay.maintenance")

# A record untouched this long with no message anywhere is stranded: no worker is going to pick it up. (A message
# can vanish between a worker's BRPOP and kombu's unacked bookkeeping when the worker or Redis dies right there.)
# Short, so that such an event still finishes within a minute; a live message of any age makes an event not stranded.
STRANDED_AFTER_SECONDS = 30.0


def requeue_stranded(runtime: Runtime, *, idle_seconds: float = STRANDED_AFTER_SECONDS) -> list[str]:
    """Re-queue unfinished events that have no queued or unacked message; returns their ids."""
    candidates = runtime.events.unfinished(idle_seconds=idle_seconds)
    if not candidates:
        return []
    live = live_task_arguments(runtime.redis, EVENTS_QUEUE, PROCESS_EVENT)
    requeued = []
    for event_id, updated_at in candidates:
        # The compare-and-set skips an event a worker touched after the candidates were read.
        message = event_messages().encode(event_id)
        if event_id in live or not runtime.events.requeue_if_unchanged(
            event_id, updated_at, queue=EVENTS_QUEUE, message=message
        ):
            continue
        log.warning("event %s was unfinished with no live message: re-queued", event_id)
        requeued.append(event_id)
    return requeued


@app.task(name="relay.sweep_events")
def sweep_events() -> int:
    """Heal events that would otherwise never finish, and trim the event index (one sweep at a time)."""
    runtime = get_runtime()
    lock = job_lock(runtime.redis, "sweep_events", 300)
    if not lock.acquire():
        return 0
    try:
        runtime.events.trim_index()
        runtime.events.prune_pending()
        policy = runtime.settings.dead_letters
        deadletters.enforce(runtime.redis, retention_seconds=policy.retention_seconds, cap=policy.max_entries)
        return len(requeue_stranded(runtime))
    finally:
        release_quietly(lock)


@app.task(name="relay.recover_workers", ignore_result=True, expires=RECOVER_INTERVAL_SECONDS * 3)
def recover_workers() -> int:
    """Hand the messages of workers whose heartbeat stopped back to the queue (one recovery at a time)."""
    runtime = get_runtime()
    lock = job_lock(runtime.redis, "recover_workers", 60)
    if not lock.acquire():
        return 0
    try:
        return len(recovery.recover(runtime.redis, {EVENTS_QUEUE}))
    finally:
        release_quietly(lock)


@app.task(name="relay.canary", ignore_result=True, expires=CANARY_INTERVAL_SECONDS)
def canary() -> None:
    """Prove end to end that a worker consumes the events queue (see ``worker.ops.health``)."""
    health.beat(get_runtime().redis)
