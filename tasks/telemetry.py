"""What an event run records besides the event: metrics (``worker.ops.stats``) and its story (``worker.store.history``).

Each function returns the commands to queue on the run's own transaction (``worker.store.runs.Writes``), so a
status change, its counts and its history entries are one round trip and land together.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from worker.config import Action, NotifyAction
from worker.liveness.heartbeat import owner_id
from worker.ops import stats
from worker.runtime import CallCount, Runtime
from worker.store import history
from worker.store.events import ActionResult, Also, EventRecord, EventStatus


def _ttl(runtime: Runtime, record: EventRecord) -> int:
    """The story lives as long as its record: a dead letter's for the dead letters' retention."""
    if record.status == EventStatus.FAILED:
        return runtime.settings.dead_letters.retention_seconds
    return runtime.settings.retention_seconds


def attempt(runtime: Runtime, record: EventRecord) -> Also:
    """An attempt starts on this worker."""

    def queue(pipe: redis.client.Pipeline) -> None:
        history.append(pipe, record.id, "attempt", ttl=_ttl(runtime, record), attempt=record.attempts,
                       worker=owner_id())  # fmt: skip

    return queue


def retrying(runtime: Runtime, record: EventRecord, delay: float) -> Also:
    """The event runs again in ``delay`` seconds."""

    def queue(pipe: redis.client.Pipeline) -> None:
        history.append(pipe, record.id, "retry", ttl=_ttl(runtime, record), reason=record.error, delay=delay)

    return queue


def finished(runtime: Runtime, record: EventRecord) -> Also:
    """The event reached its final status: count it with its time from receipt, and tell it."""

    def queue(pipe: redis.client.Pipeline) -> None:
        now = time.time()
        stats.record_event_finished(pipe, record.source, str(record.status), now - record.received_at, now=now)
        ttl = _ttl(runtime, record)
        history.append(pipe, record.id, "finished", ttl=ttl, now=now, status=str(record.status), error=record.error)
        if record.status == EventStatus.FAILED:
            history.append(pipe, record.id, "dead_lettered", ttl=ttl, now=now, reason=record.error)

    return queue


def action(runtime: Runtime, record: EventRecord, result: ActionResult, started: float, spec: Action) -> Also:
    """One action's entry (request line, status, duration, result) and a notification's count."""
    seconds = max(0.0, time.time() - started)
    request = " ".join(str(result.detail.get(key, "")) for key in ("method", "path")).strip() or spec.description

    def queue(pipe: redis.client.Pipeline) -> None:
        history.append(
            pipe, record.id, "action", ttl=_ttl(runtime, record), now=started, rule=result.rule, index=result.index,
            action_kind=result.kind, target=result.target, request=request, status_code=result.status_code,
            ok=result.ok, error=result.error, seconds=round(seconds, 4), **_writes(result),
        )  # fmt: skip
        # Admin API calls (of calls and syncs) are counted by the target client, per request.
        if isinstance(spec, NotifyAction):
            stats.record_notification(pipe, result.target, "sent" if result.ok else "failed")

    return queue


def calls(counts: list[CallCount]) -> Also:
    """The admin API requests a run sent (``Runtime.gathering_calls``), counted."""
    sent = list(counts)

    def queue(pipe: redis.client.Pipeline) -> None:
        for count in sent:
            stats.record_call(pipe, count.target, count.method, count.status_class, count.seconds)

    return queue


def _writes(result: ActionResult) -> dict[str, Any]:
    # A sync's writes, each a line of the event's story.
    writes = result.detail.get("writes")
    return {"writes": writes} if isinstance(writes, list) and writes else {}
