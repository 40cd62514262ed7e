"""The system view names each part (Redis, workers, beat, queue, dead letters, tokens) and says why it is not ok."""

from __future__ import annotations

import base64
import json

import pytest
import redis

from worker.config import Settings
from worker.liveness.heartbeat import ALIVE_KEY
from worker.ops import health
from worker.ops.overview import gather, reason_of
from worker.store.events import DLQ_KEY, EventRecord, EventStatus, EventStore

NOW = 1_800_000_000.0
QUEUE = "relay.events"


def _settings() -> Settings:
    return Settings(redis_url="redis://unused")


def _message(event_id: str) -> bytes:
    body = base64.b64encode(json.dumps([[event_id], {}, {}]).encode()).decode()
    return json.dumps({"body": body, "headers": {"task": "relay.process_event"}}).encode()


def _event(store: EventStore, event_id: str, *, at: float, status: EventStatus, error: str | None = None) -> None:
    record = EventRecord(event_id, "github", "push", event_id, at, {}, {}, status=status, error=error)
    store.save(record, index=True)


def _parts(client: redis.Redis, **kwargs: float) -> dict[str, health.Part]:
    report = health.system_health(client, _settings(), queue=QUEUE, now=NOW, **kwargs)
    return {part.name: part for part in report.parts}


def test_a_fresh_canary_and_beat_are_ok(fake_redis: redis.Redis) -> None:
    health.beat(fake_redis, now=NOW - 5)
    health.beat_sent(fake_redis, now=NOW - 6)
    fake_redis.set(ALIVE_KEY + "h:1", repr(NOW - 3600))

    report = health.system_health(fake_redis, _settings(), queue=QUEUE, now=NOW)

    assert (report.level, report.attention) == ("ok", False)
    assert [part.name for part in report.parts] == ["redis", "workers", "beat", "queue", "dead_letters", "tokens"]
    assert report.to_json()["parts"]["workers"]["state"] == "consuming"


@pytest.mark.parametrize(
    ("started_ago", "canary_ago", "level", "state"),
    [
        (10.0, None, "ok", "starting"),  # just started: the first canary is not due yet
        (3600.0, None, "fail", "not consuming"),
        (3600.0, 500.0, "fail", "not consuming"),
        (None, None, "fail", "none online"),
    ],
)
def test_workers(
    fake_redis: redis.Redis, started_ago: float | None, canary_ago: float | None, level: str, state: str
) -> None:
    if started_ago is not None:
        fake_redis.set(ALIVE_KEY + "h:1", repr(NOW - started_ago))
    if canary_ago is not None:
        health.beat(fake_redis, now=NOW - canary_ago)

    workers = _parts(fake_redis)["workers"]

    assert (workers.level, workers.state) == (level, state)


def test_a_stale_beat_fails_while_workers_consume(fake_redis: redis.Redis) -> None:
    fake_redis.set(ALIVE_KEY + "h:1", repr(NOW - 3600))
    health.beat(fake_redis, now=NOW - 5)
    health.beat_sent(fake_redis, now=NOW - 600)

    beat = _parts(fake_redis)["beat"]

    assert (beat.level, beat.state) == ("fail", "stopped")
    assert "600s ago" in beat.reason


def test_the_oldest_waiting_event_is_aged_from_when_it_was_queued(fake_redis: redis.Redis) -> None:
    store = EventStore(fake_redis, retention_seconds=3600)
    _event(store, "evt_old", at=NOW - 900, status=EventStatus.QUEUED)
    _event(store, "evt_new", at=NOW - 10, status=EventStatus.QUEUED)
    fake_redis.hset("relay:event:evt_old", "updated_at", repr(NOW - 900))
    fake_redis.hset("relay:event:evt_new", "updated_at", repr(NOW - 10))
    fake_redis.lpush(QUEUE, _message("evt_old"))  # LPUSH: the oldest is at the tail, where BRPOP takes
    fake_redis.lpush(QUEUE, _message("evt_new"))

    overview = gather(fake_redis, _settings(), QUEUE, now=NOW)
    queue = _parts(fake_redis)["queue"]

    assert (overview.waiting, overview.oldest_waiting_seconds) == (2, 900.0)
    assert (queue.level, queue.state) == ("warn", "2 waiting, 0 in progress")


def test_dead_letters_warn_with_their_top_reasons(fake_redis: redis.Redis) -> None:
    store = EventStore(fake_redis, retention_seconds=3600)
    for i, error in enumerate(["rule 'a' action 0: HTTP 503: busy", "rule 'b' action 1: HTTP 503: x", "timeout"]):
        _event(store, f"evt_{i}", at=NOW - 100 + i, status=EventStatus.FAILED, error=error)

    overview = gather(fake_redis, _settings(), QUEUE, now=NOW)
    part = _parts(fake_redis)["dead_letters"]

    assert overview.top_reasons == [("HTTP 503", 2), ("timeout", 1)]
    assert [failure.id for failure in overview.failures] == ["evt_2", "evt_1", "evt_0"]
    assert (part.level, part.state) == ("warn", "3")
    assert "HTTP 503 (2)" in part.reason
    assert fake_redis.zcard(DLQ_KEY) == 3


@pytest.mark.parametrize(
    ("error", "reason"),
    [("rule 'r' action 0: outcome unknown: check it", "outcome unknown"), (None, "no reason"), ("boom", "boom")],
)
def test_reason_of(error: str | None, reason: str) -> None:
    assert reason_of(error) == reason


def test_redis_unreachable_is_the_one_failing_part() -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)

    report = health.system_health(dead, _settings(), queue=QUEUE)

    assert [(part.name, part.level) for part in report.parts] == [("redis", "fail")]
    assert report.attention
