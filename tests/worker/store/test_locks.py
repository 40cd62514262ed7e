"""The event lock keeps two runs of one event apart, and is taken over from a holder that died."""

from __future__ import annotations

import fakeredis
import pytest

from worker.liveness.heartbeat import ALIVE_KEY, owner_id
from worker.store.locks import EVENT_LOCK, JOB_LOCK, EventLock, event_lock, job_lock, release_quietly


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


def test_a_job_whose_worker_died_is_taken_over_not_blocked_for_its_timeout(client: fakeredis.FakeRedis) -> None:
    client.set(JOB_LOCK + "check_tokens", "vanished-host:9|nonce", ex=3600)  # killed mid-check, an hour left
    client.set(ALIVE_KEY + "busy-host:3", "1")
    client.set(JOB_LOCK + "sweep_events", "busy-host:3|nonce", ex=300)  # alive: still running

    assert job_lock(client, "check_tokens", 3600).acquire() is True
    assert job_lock(client, "sweep_events", 300).acquire() is False


def test_a_release_during_a_redis_restart_waits_for_it_and_never_raises(client: fakeredis.FakeRedis) -> None:
    import redis as redis_module

    lock = event_lock(client, "evt_1", 300)
    assert lock.acquire() is True
    calls = {"n": 0}
    real_release = lock.release

    def release() -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            raise redis_module.ConnectionError("Connection refused")  # Redis restarting
        real_release()

    lock.release = release  # type: ignore[method-assign]
    assert release_quietly(lock) is True
    assert client.get(EVENT_LOCK + "evt_1") is None

    down = event_lock(client, "evt_2", 300)
    assert down.acquire() is True

    def never() -> None:
        raise redis_module.ConnectionError("Connection refused")

    down.release = never  # type: ignore[method-assign]
    assert release_quietly(down, redis_wait=0.3) is False  # left to expire, and the caller's error stands
