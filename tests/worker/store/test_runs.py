"""The event run's start script and gathered writes, on fakeredis with Lua."""

from __future__ import annotations

import json

import pytest
import redis

from tests.support import FakeClock
from tests.tasks.support import record_for
from worker.errors import CorruptRecord
from worker.store import history, runs
from worker.store.events import EventStatus, event_fields
from worker.store.keyspace import DLQ_KEY, FIELD_ATTEMPTS, event_key, event_lock_key, history_key, pending_key
from worker.store.runs import Start, StartArgs, Writes

ARGS = StartArgs("me|1", 60, max_attempts=3, retention_seconds=600, worker="host:1", history_seconds=600)


def _stored(client: redis.Redis, **changes: object) -> str:
    record = record_for("github", "push", {"n": 1})
    for name, value in changes.items():
        setattr(record, name, value)
    client.hset(event_key(record.id), mapping=event_fields(record))  # type: ignore[arg-type]
    return record.id


@pytest.mark.parametrize("status", [EventStatus.QUEUED, EventStatus.RETRYING])
def test_a_fresh_attempt_is_locked_read_marked_and_told_at_once(
    fake_redis: redis.Redis, event_clock: FakeClock, status: EventStatus
) -> None:
    event_id = _stored(fake_redis, status=status, attempts=1)

    started = runs.start(fake_redis, event_id, ARGS)

    assert started.state == Start.MARKED
    assert started.record is not None
    assert (started.record.status, started.record.attempts) == (EventStatus.RUNNING, 2)
    assert started.record.updated_at == event_clock.now  # stamped by the event store's clock
    assert fake_redis.get(event_lock_key(event_id)) == b"me|1"
    assert 0 < fake_redis.pttl(event_lock_key(event_id)) <= 60_000
    assert 0 < fake_redis.ttl(event_key(event_id)) <= 600
    [entry] = history.read(fake_redis, event_id)
    assert (entry["kind"], entry["attempt"], entry["worker"]) == ("attempt", 2, "host:1")


@pytest.mark.parametrize(
    ("status", "attempts"),
    [
        (EventStatus.DONE, 1),  # a redelivered message for a finished event
        (EventStatus.RUNNING, 1),  # left running by a run that died: the run counts it first
        (EventStatus.QUEUED, 3),  # over the budget: the run gives up
    ],
)
def test_any_other_state_is_read_and_left_as_it_was(
    fake_redis: redis.Redis, status: EventStatus, attempts: int
) -> None:
    event_id = _stored(fake_redis, status=status, attempts=attempts)

    started = runs.start(fake_redis, event_id, ARGS)

    assert started.state == Start.LOADED
    assert started.record is not None
    assert (started.record.status, started.record.attempts) == (status, attempts)
    assert fake_redis.exists(history_key(event_id)) == 0
    assert fake_redis.get(event_lock_key(event_id)) == b"me|1"  # held: the run decides, then releases


def test_a_held_lock_is_left_alone_and_nothing_is_read_or_written(fake_redis: redis.Redis) -> None:
    event_id = _stored(fake_redis)
    fake_redis.set(event_lock_key(event_id), "other|2")

    assert runs.start(fake_redis, event_id, ARGS) == runs.Started(Start.HELD)
    assert fake_redis.hget(event_key(event_id), FIELD_ATTEMPTS) == b"0"
    assert fake_redis.get(event_lock_key(event_id)) == b"other|2"


def test_a_taken_over_lock_is_not_asked_for_again(fake_redis: redis.Redis) -> None:
    event_id = _stored(fake_redis)
    fake_redis.set(event_lock_key(event_id), "me|1")

    started = runs.start(fake_redis, event_id, StartArgs(**{**ARGS.__dict__, "have_lock": True}))

    assert started.state == Start.MARKED


def test_a_missing_record_says_so(fake_redis: redis.Redis) -> None:
    assert runs.start(fake_redis, "evt_gone", ARGS).state == Start.MISSING


def test_an_unreadable_attempt_count_is_not_marked_and_the_record_is_reported_corrupt(fake_redis: redis.Redis) -> None:
    event_id = _stored(fake_redis)
    fake_redis.hset(event_key(event_id), FIELD_ATTEMPTS, "many")

    with pytest.raises(CorruptRecord):
        runs.start(fake_redis, event_id, ARGS)
    assert fake_redis.hget(event_key(event_id), "status") == b"queued"


def test_a_failed_run_ends_in_one_transaction_as_a_kept_dead_letter(
    fake_redis: redis.Redis, event_clock: FakeClock
) -> None:
    event_id = _stored(fake_redis)
    fake_redis.zadd(pending_key("github"), {event_id: 1})
    fake_redis.hset(event_key(event_id), "inflight:k", "gw POST /x")
    record = runs.start(fake_redis, event_id, ARGS).record
    assert record is not None
    writes = Writes(record, retention_seconds=600)

    record.status, record.error = EventStatus.FAILED, "refused"
    writes.status()
    writes.landed("k")
    writes.release(event_lock_key(event_id), b"me|1")
    event_clock.advance(1.5)
    writes.commit(fake_redis)

    raw: dict[bytes, bytes] = fake_redis.hgetall(event_key(event_id))  # type: ignore[assignment]
    stored = {k.decode(): v.decode() for k, v in raw.items()}
    assert (stored["status"], stored["error"], stored["updated_at"]) == ("failed", "refused", repr(event_clock.now))
    assert "inflight:k" not in stored
    assert fake_redis.ttl(event_key(event_id)) == -1
    assert fake_redis.zscore(DLQ_KEY, event_id) == event_clock.now
    assert fake_redis.zscore(pending_key("github"), event_id) is None
    assert fake_redis.exists(event_lock_key(event_id)) == 0
    assert not writes  # written: nothing left gathered


def test_results_alone_leave_the_status_and_its_lifetime_untouched(fake_redis: redis.Redis) -> None:
    event_id = _stored(fake_redis)
    record = runs.start(fake_redis, event_id, ARGS).record
    assert record is not None
    writes = Writes(record, retention_seconds=600)
    fake_redis.persist(event_key(event_id))

    writes.results()
    writes.commit(fake_redis)

    assert json.loads(fake_redis.hget(event_key(event_id), "actions") or b"") == []
    assert fake_redis.ttl(event_key(event_id)) == -1  # no EXPIRE without a status change
    assert fake_redis.zscore(DLQ_KEY, event_id) is None


def test_a_release_leaves_a_lock_that_changed_hands(fake_redis: redis.Redis) -> None:
    fake_redis.set("relay:lock:event:e", "other|2")

    runs.release(fake_redis, "relay:lock:event:e", "me|1")

    assert fake_redis.get("relay:lock:event:e") == b"other|2"
    runs.release(fake_redis, "relay:lock:event:e", "other|2")
    assert fake_redis.exists("relay:lock:event:e") == 0
