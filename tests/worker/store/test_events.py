"""The event store's status writes: only the fields that changed, never the payload, dead letters kept."""

from __future__ import annotations

from collections.abc import Callable

import fakeredis
import pytest
import redis

from tests.support import FakeClock
from tests.tasks.support import record_for
from worker.store.events import (
    DLQ_KEY,
    EVENT_KEY,
    INDEX_KEY,
    ActionResult,
    EventStatus,
    EventStore,
    event_fields,
    parse_record,
)
from worker.store.keyspace import pending_key

# Valid JSON that ``event_fields`` never writes (spaces, key order): a rewrite of the payload would change it.
RECEIVED_PAYLOAD = b'{ "z": 1,  "a": [ 1, 2 ] }'
RECEIVED_HEADERS = b'{ "x-github-event": "push" }'


@pytest.fixture
def store(fake_redis: redis.Redis) -> EventStore:
    return EventStore(fake_redis, retention_seconds=3600)


def _stored(store: EventStore) -> str:
    record = record_for("github", "push", {"z": 1, "a": [1, 2]})
    fields = {**event_fields(record), "payload": RECEIVED_PAYLOAD, "headers": RECEIVED_HEADERS}
    store.redis.hset(EVENT_KEY + record.id, mapping=fields)  # type: ignore[arg-type]
    return record.id


@pytest.mark.parametrize(
    ("status", "with_actions"),
    [(EventStatus.RUNNING, False), (EventStatus.RETRYING, True), (EventStatus.DONE, False), (EventStatus.FAILED, True)],
)
def test_a_status_change_writes_its_fields_and_leaves_the_payload_as_received(
    store: EventStore, status: EventStatus, with_actions: bool
) -> None:
    event_id = _stored(store)
    record = store.get(event_id)
    record.status, record.attempts, record.error = status, 2, "rule 'r' action 0: boom"
    record.actions = [ActionResult(key=f"{event_id}:r:0", rule="r", index=0, kind="call", target="gw", ok=False)]

    store.save_status(record, with_actions=with_actions)

    raw: dict[bytes, bytes] = store.redis.hgetall(EVENT_KEY + event_id)  # type: ignore[assignment]
    assert (raw[b"payload"], raw[b"headers"]) == (RECEIVED_PAYLOAD, RECEIVED_HEADERS)
    saved = parse_record(raw)
    assert (saved.status, saved.attempts, saved.error) == (status, 2, "rule 'r' action 0: boom")
    assert saved.updated_at == record.updated_at > record.received_at
    assert len(saved.actions) == (1 if with_actions else 0)


def test_a_failed_status_makes_a_dead_letter_kept_without_expiry(store: EventStore) -> None:
    event_id = _stored(store)
    record = store.get(event_id)
    record.status = EventStatus.RETRYING
    store.save_status(record)
    assert 0 < store.redis.ttl(EVENT_KEY + event_id) <= 3600

    record.status = EventStatus.FAILED
    store.save_status(record)

    assert store.redis.ttl(EVENT_KEY + event_id) == -1
    assert store.redis.zscore(DLQ_KEY, event_id) == record.updated_at


def test_the_sweeper_reads_what_a_status_change_wrote(store: EventStore) -> None:
    event_id = _stored(store)
    record = store.get(event_id)
    record.status = EventStatus.RUNNING
    store.save_status(record)
    store.redis.zadd(INDEX_KEY, {event_id: int(record.updated_at * 1000)})  # indexed as if received just now

    [(found, updated_at)] = store.unfinished(idle_seconds=0, now=record.updated_at + 1)
    assert (found, updated_at) == (event_id, repr(record.updated_at))


def _save_status(store: EventStore, event_id: str) -> None:
    record = store.get(event_id)
    record.status = EventStatus.RUNNING
    store.save_status(record)


def _save(store: EventStore, event_id: str) -> None:
    record = store.get(event_id)
    record.status, record.error = EventStatus.FAILED, "refused"
    store.save(record)


def _requeue(store: EventStore, event_id: str) -> None:
    updated_at = store.get(event_id).updated_at
    assert store.requeue_if_unchanged(event_id, repr(updated_at), queue="q", message=b"m")


WRITERS: dict[str, Callable[[EventStore, str], object]] = {
    "save_status": _save_status,
    "save": _save,
    "replay (relay events replay, relay dlq replay)": lambda store, event_id: store.replay(
        event_id, queue="q", message=b"m"
    ),
    "requeue_if_unchanged (the sweeper)": _requeue,
    "dead_letter_corrupt": lambda store, event_id: store.dead_letter_corrupt(event_id, "unreadable"),
}


@pytest.mark.parametrize("write", WRITERS.values(), ids=WRITERS.keys())
def test_every_status_write_is_stamped_by_the_store_s_one_clock(
    store: EventStore, event_clock: FakeClock, write: Callable[[EventStore, str], object]
) -> None:
    event_id = _stored(store)

    write(store, event_id)

    assert store.redis.hget(EVENT_KEY + event_id, "updated_at") == repr(event_clock.now).encode()
    assert store.redis.zscore(DLQ_KEY, event_id) in (None, event_clock.now)  # a dead letter is listed by it too


def test_prune_pending_drops_finished_and_vanished_events_only() -> None:
    client = fakeredis.FakeRedis()
    store = EventStore(client, retention_seconds=60)
    for event_id, status in (("evt_running", "running"), ("evt_done", "done")):
        client.hset(EVENT_KEY + event_id, "status", status)
    client.zadd(pending_key("github"), {"evt_running": 1, "evt_done": 2, "evt_expired": 3})

    assert store.prune_pending() == 2
    assert client.zrange(pending_key("github"), 0, -1) == [b"evt_running"]
