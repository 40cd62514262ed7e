"""The event lock keeps two runs of one event apart, and is taken over from a holder that died."""

from __future__ import annotations

import fakeredis
import pytest

from worker.liveness.heartbeat import ALIVE_KEY, owner_id
from worker.store.locks import EVENT_LOCK, EventLock, event_lock


@pytest.fixture
def client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def test_a_live_holder_keeps_the_lock(client: fakeredis.FakeRedis) -> None:
    client.set(ALIVE_KEY + "other-host:7", "1")
    client.set(EVENT_LOCK + "evt_1", "other-host:7|nonce", ex=300)

    assert event_lock(client, "evt_1", 300).acquire() is False
    assert client.get(EVENT_LOCK + "evt_1") == b"other-host:7|nonce"


def test_a_dead_holders_lock_is_taken_over_at_once(client: fakeredis.FakeRedis) -> None:
    client.set(EVENT_LOCK + "evt_1", "vanished-host:7|nonce", ex=300)  # no heartbeat: the holder is gone

    lock = event_lock(client, "evt_1", 300)
    assert isinstance(lock, EventLock)
    assert lock.acquire() is True
    assert lock.holder() == owner_id()
    lock.release()
    assert client.get(EVENT_LOCK + "evt_1") is None


def test_two_runs_in_one_live_process_do_not_share(client: fakeredis.FakeRedis) -> None:
    first = event_lock(client, "evt_1", 300)
    assert first.acquire() is True  # starts this process's heartbeat
    assert client.exists(ALIVE_KEY + owner_id())
    assert event_lock(client, "evt_1", 300).acquire() is False
