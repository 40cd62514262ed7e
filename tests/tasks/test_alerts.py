"""Alerts: dead letters batched per run, and each incident (queue waiting, no consumer) once when it starts and
once when it clears, whatever runs the check; a failed send is tried again."""

from __future__ import annotations

import base64
import json
import os

import pytest
import redis

from tasks import alerts
from worker.config import AlertsConfig
from worker.liveness.canary import BEAT_KEY
from worker.ops import health
from worker.store.events import DLQ_KEY, EVENT_KEY

NOW = 1_800_000_000.0
CONFIG = AlertsConfig(channel="ops", max_wait_seconds=300, no_consumer_seconds=120)


class Outbox:
    """The channel: records what was sent, or fails while ``down``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = False

    def __call__(self, text: str, key: str) -> None:
        if self.down:
            raise ConnectionError("channel down")
        self.sent.append((text, key))


def _dead(client: redis.Redis, event_id: str, at: float, error: str) -> None:
    client.hset(EVENT_KEY + event_id, "error", error)
    client.zadd(DLQ_KEY, {event_id: at})


def _waiting(client: redis.Redis, event_id: str, since: float) -> None:
    body = base64.b64encode(json.dumps([[event_id], {}, {}]).encode()).decode()
    client.hset(EVENT_KEY + event_id, "updated_at", repr(since))
    client.lpush("relay.events", json.dumps({"body": body}))


def test_dead_letters_are_one_message_per_run_with_their_reasons(fake_redis: redis.Redis) -> None:
    health.beat(fake_redis, now=NOW)
    outbox = Outbox()
    alerts.check(fake_redis, CONFIG, outbox, now=NOW)  # the first run starts from now, not the backlog
    for i, error in enumerate(["rule 'r' action 0: HTTP 503: a", "rule 'r' action 0: HTTP 503: b", "timeout"]):
        _dead(fake_redis, f"evt_{i}", NOW + 1 + i, error)

    first = alerts.check(fake_redis, CONFIG, outbox, now=NOW + 60)
    again = alerts.check(fake_redis, CONFIG, outbox, now=NOW + 70)
    _dead(fake_redis, "evt_9", NOW + 80, "timeout")
    later = alerts.check(fake_redis, CONFIG, outbox, now=NOW + 90)

    assert len(first) == 1
    assert "3 event(s) dead-lettered: HTTP 503 (2), timeout (1)" in first[0]
    assert again == []
    assert "1 event(s) dead-lettered: timeout (1); e.g. evt_9" in later[0]


@pytest.mark.parametrize("condition", ["queue_wait", "no_consumer"])
def test_an_incident_is_sent_once_and_once_more_when_it_clears(fake_redis: redis.Redis, condition: str) -> None:
    outbox = Outbox()

    def run(at: float, *, bad: bool) -> list[str]:
        fake_redis.delete("relay.events")
        if condition == "queue_wait":
            health.beat(fake_redis, now=at)
            _waiting(fake_redis, "evt_w", at - (600 if bad else 10))
        else:
            health.beat(fake_redis, now=at - (600 if bad else 5))
        return [text for text in alerts.check(fake_redis, CONFIG, outbox, now=at) if "dead-lettered" not in text]

    assert run(NOW, bad=False) == []
    started = run(NOW + 60, bad=True)
    still = run(NOW + 120, bad=True)
    cleared = run(NOW + 180, bad=False)
    quiet = run(NOW + 240, bad=False)

    assert len(started) == 1
    assert {"queue_wait": "events are waiting", "no_consumer": "no worker is consuming"}[condition] in started[0]
    assert still == []
    assert len(cleared) == 1
    assert cleared[0].startswith("[relay] cleared: ")
    assert quiet == []
    assert len({key for _, key in outbox.sent}) == 2  # distinct idempotency keys for start and clear


def test_a_failed_send_is_tried_again_next_run(fake_redis: redis.Redis) -> None:
    outbox = Outbox()
    outbox.down = True
    health.beat(fake_redis, now=NOW - 600)

    assert alerts.check(fake_redis, CONFIG, outbox, now=NOW) == []
    outbox.down = False
    retried = alerts.check(fake_redis, CONFIG, outbox, now=NOW + 60)

    assert len(retried) == 1
    assert "no worker is consuming" in retried[0]


def test_beat_publishing_the_canary_marks_beat_alive_and_records_the_depth(
    fake_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(alerts._clients, os.getpid(), fake_redis)
    fake_redis.lpush("relay.events", "m1", "m2")

    alerts._beat_published(sender="relay.process_event")
    assert fake_redis.get(BEAT_KEY) is None
    alerts._beat_published(sender="relay.canary")

    assert fake_redis.get(BEAT_KEY) is not None
    depths = [
        value for key in fake_redis.scan_iter("relay:stats:minute:*") for value in [fake_redis.hget(key, "depth")]
    ]
    assert depths == [b"2"]
