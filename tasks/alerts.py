"""Alerts an operator configures (``alerts:``), checked by beat, and beat's own mark for ``relay status``.

- dead letters: one message per interval naming how many and their top reasons (never one per event in a storm);
- the oldest waiting event older than ``max_wait_seconds``; no worker ran the canary for ``no_consumer_seconds``:
  each once when it starts and once when it clears. The state lives in Redis (``relay:alerts``), and a transition is
  an HSET/HDEL whose reply says whether this run made it, so two beats or two runs never send one twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import redis
from celery.signals import before_task_publish

from worker.celery_app import EVENTS_QUEUE, app
from worker.config import AlertsConfig
from worker.ops import health, stats
from worker.ops.overview import oldest_waiting, reason_of
from worker.runtime import Runtime, get_runtime
from worker.store.keyspace import ALERTS_KEY, ALERTS_SEEN_KEY, DLQ_KEY, FIELD_ERROR, event_key
from worker.store.locks import job_lock, release_quietly

log = logging.getLogger("relay.alerts")

STATE_KEY = ALERTS_KEY  # hash: condition -> when it started firing
SEEN_KEY = ALERTS_SEEN_KEY  # the newest dead letter already reported (its DLQ score)
Send = Callable[[str, str], None]  # (text, idempotency key)


def check(client: redis.Redis, config: AlertsConfig, send: Send, *, now: float | None = None) -> list[str]:
    """Run every check once; returns the texts sent."""
    now = time.time() if now is None else now
    snapshot = health.snapshot(client, EVENTS_QUEUE, now=now)
    sent = []
    if config.dead_letters:
        sent += _dead_letters(client, send, now)
    oldest = oldest_waiting(client, EVENTS_QUEUE, now)
    waiting = oldest is not None and oldest > config.max_wait_seconds
    age = snapshot.canary_age_seconds
    stalled = age is None or age > config.no_consumer_seconds
    sent += _incident(client, send, "queue_wait", waiting, now,
                      f"events are waiting: the oldest for {oldest or 0:.0f}s (over {config.max_wait_seconds:.0f}s)",
                      "events no longer wait: the queue is moving")  # fmt: skip
    seen = "never" if age is None else f"{age:.0f}s ago"
    sent += _incident(client, send, "no_consumer", stalled, now,
                      f"no worker is consuming: the canary last ran {seen} ({snapshot.queue_ready} waiting)",
                      "workers consume again")  # fmt: skip
    return sent


def _incident(
    client: redis.Redis, send: Send, name: str, firing: bool, now: float, text: str, cleared: str
) -> list[str]:
    """Send on the transition only; a failed send undoes the transition so the next run tries again."""
    if firing and client.hsetnx(STATE_KEY, name, repr(now)):
        return _send_or_undo(send, f"[relay] {text}", f"alert:{name}:{now:.0f}", lambda: client.hdel(STATE_KEY, name))
    if not firing and (started := client.hget(STATE_KEY, name)) is not None and client.hdel(STATE_KEY, name):
        undo = partial(client.hsetnx, STATE_KEY, name, started)
        return _send_or_undo(send, f"[relay] cleared: {cleared}", f"alert:{name}:{_text(started)}:cleared", undo)
    return []


def _send_or_undo(send: Send, text: str, key: str, undo: Callable[[], Any]) -> list[str]:
    try:
        send(text, key)
    except Exception as exc:  # a channel's failure of any kind: the alert stays due
        undo()
        log.warning("alert not sent (%s); trying again next run", type(exc).__name__)
        return []
    return [text]


def _dead_letters(client: redis.Redis, send: Send, now: float) -> list[str]:
    """One message for every dead letter since the last run."""
    seen = float(client.get(SEEN_KEY) or now)  # first run: report from now on, not the whole backlog
    entries: list[tuple[bytes, float]] = list(client.zrangebyscore(DLQ_KEY, f"({seen!r}", "+inf", withscores=True))  # type: ignore[arg-type]
    if not entries:
        if client.get(SEEN_KEY) is None:
            client.set(SEEN_KEY, repr(seen))
        return []
    newest = max(score for _, score in entries)
    if client.getset(SEEN_KEY, repr(newest)) not in (None, repr(seen).encode()):
        return []  # another run reported this batch first
    ids = [_text(member) for member, _ in entries]
    with client.pipeline(transaction=False) as pipe:
        for event_id in ids:
            pipe.hget(event_key(event_id), FIELD_ERROR)
        errors = pipe.execute()
    reasons = Counter(reason_of(_text(error) if error else None) for error in errors).most_common(3)
    top = ", ".join(f"{reason} ({count})" for reason, count in reasons)
    text = f"[relay] {len(ids)} event(s) dead-lettered: {top}; e.g. {', '.join(ids[:3])} (relay dlq list)"
    return _send_or_undo(send, text, f"alert:dead_letters:{newest!r}", lambda: client.set(SEEN_KEY, repr(seen)))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@app.task(name="relay.check_alerts", ignore_result=True)
def check_alerts() -> int:
    """Beat's alert check (one at a time); returns how many messages it sent."""
    runtime = get_runtime()
    config = runtime.settings.alerts
    if config.channel is None:
        return 0
    lock = job_lock(runtime.redis, "check_alerts", 60)
    if not lock.acquire():
        return 0
    try:
        return len(check(runtime.redis, config, _sender(runtime, config.channel)))
    finally:
        release_quietly(lock)


def _sender(runtime: Runtime, channel: str) -> Send:
    def send(text: str, key: str) -> None:
        runtime.notifications.send(channel, text, idempotency_key=key)
        stats.record_notification(runtime.redis, channel, "sent")

    return send


# --- Beat's mark: beat publishes the canary, so its publishing says beat is alive (``relay status``). --------

_clients: dict[int, redis.Redis] = {}


def _client() -> redis.Redis:
    client = _clients.get(os.getpid())
    if client is None:
        from worker.config import get_settings
        from worker.store.connection import connect, resolve_redis_url

        settings = get_settings()
        client = _clients[os.getpid()] = connect(resolve_redis_url(settings), settings)
    return client


def _beat_published(sender: str | None = None, **_: Any) -> None:
    if sender != "relay.canary":
        return
    try:
        client = _client()
        health.beat_sent(client)
        stats.record_depth(client, health.snapshot(client, EVENTS_QUEUE).queue_ready)
    except Exception as exc:  # whatever goes wrong here must never stop beat from publishing
        log.warning("beat's mark not written (%s)", type(exc).__name__)


before_task_publish.connect(_beat_published, weak=False)
