"""Dead letters are bounded by a retention period and a size cap, oldest first."""

from __future__ import annotations

import logging

import fakeredis
import pytest

from worker.store import deadletters
from worker.store.events import DLQ_KEY, EVENT_KEY, INDEX_KEY

NOW = 2_000_000_000.0
DAY = 86400


def _dead(client: fakeredis.FakeRedis, event_id: str, age_days: float) -> None:
    client.hset(EVENT_KEY + event_id, "status", "failed")
    client.zadd(INDEX_KEY, {event_id: 1})
    client.zadd(DLQ_KEY, {event_id: NOW - age_days * DAY})


def test_purge_older_than_deletes_record_index_and_entry() -> None:
    client = fakeredis.FakeRedis()
    _dead(client, "old", 8)
    _dead(client, "new", 1)

    assert deadletters.purge_older_than(client, 7 * DAY, now=NOW) == 1

    assert client.zrange(DLQ_KEY, 0, -1) == [b"new"]
    assert not client.exists(EVENT_KEY + "old")
    assert client.zscore(INDEX_KEY, "old") is None


def test_the_cap_purges_the_oldest_and_warns_near_it(caplog: pytest.LogCaptureFixture) -> None:
    client = fakeredis.FakeRedis()
    for n in range(12):
        _dead(client, f"evt_{n:02d}", 12 - n)  # evt_00 is the oldest

    trimmed = deadletters.enforce(client, retention_seconds=100 * DAY, cap=10)

    assert (trimmed.expired, trimmed.over_cap, trimmed.remaining) == (0, 2, 10)
    assert client.zrange(DLQ_KEY, 0, 0) == [b"evt_02"]
    with caplog.at_level(logging.WARNING, logger="relay.deadletters"):
        deadletters.enforce(client, retention_seconds=100 * DAY, cap=12)
    assert "dead letters at 10 of their cap of 12" in caplog.text
