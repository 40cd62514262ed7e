"""The event store: one Redis hash per event, a time index, dedup keys and the dead letters.

Keys and field names: ``worker.store.keyspace`` (``relay:event:<id>``, the ``relay:events`` index, dedup keys, the
``relay:dlq`` dead letters, the per-source ``relay:pending:<source>`` sets).

A new event is stored, deduplicated and queued by one Lua script (``INGEST_SCRIPT``): one round trip, and
either all of it happens or none of it does, so an acknowledged event always has a queued message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

import redis

from worker import jsontext
from worker.errors import CorruptRecord, EventNotFound, StoreError
from worker.store.keyspace import (
    DLQ_KEY,
    EVENT_KEY,
    FIELD_ACTIONS,
    FIELD_ATTEMPTS,
    FIELD_DELIVERY_ID,
    FIELD_ERROR,
    FIELD_HEADERS,
    FIELD_ID,
    FIELD_INTERRUPTED,
    FIELD_PAYLOAD,
    FIELD_RECEIVED_AT,
    FIELD_SOURCE,
    FIELD_STATUS,
    FIELD_TYPE,
    FIELD_UPDATED_AT,
    IN_FLIGHT,
    INDEX_KEY,
    dedup_key,
    event_key,
    pending_key,
)

__all__ = ["DLQ_KEY", "EVENT_KEY", "INDEX_KEY", "IN_FLIGHT", "dedup_key"]  # re-exported: read from the keyspace

WAITING_FULL = -1  # what INGEST_SCRIPT answers when the source already has its cap of unfinished events


class EventStatus(StrEnum):
    """Where an event is in its life: ``queued → running → done``, with retries, dead letters and skips."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


# Extra commands a caller queues on the store's transaction (``worker.ops.stats``, ``worker.store.history``).
Also = Callable[[redis.client.Pipeline], None]

FINAL_STATUSES = frozenset({EventStatus.DONE, EventStatus.FAILED, EventStatus.SKIPPED})


@dataclass
class ActionResult:
    """What one action of one rule did; ``key`` is also its Idempotency-Key."""

    key: str
    rule: str
    index: int
    kind: str
    target: str
    ok: bool
    status_code: int | None = None
    error: str | None = None
    attempts: int = 1
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class EventRecord:
    """One received webhook and what became of it."""

    id: str
    source: str
    type: str
    delivery_id: str
    received_at: float
    headers: dict[str, str]
    payload: Any
    status: EventStatus = EventStatus.QUEUED
    attempts: int = 0
    actions: list[ActionResult] = field(default_factory=list)
    error: str | None = None
    updated_at: float = 0.0
    # ``inflight:<key>`` fields: actions sent whose result was never recorded (see ``worker.store.inflight``).
    in_flight: dict[str, str] = field(default_factory=dict)
    interrupted: int = 0  # runs of this event cut short with nothing recorded (a worker killed mid-run)

    def to_json(self, *, with_payload: bool = True) -> dict[str, Any]:
        """A JSON-ready dict, as ``relay events show --json`` prints it."""
        data = asdict(self)
        data["status"] = str(self.status)
        if not with_payload:
            data.pop("payload")
            data.pop("headers")
        return data

    def done_actions(self) -> set[str]:
        """Keys of the actions that already took effect."""
        return {action.key for action in self.actions if action.ok}


def new_event_id(now: float | None = None) -> str:
    """A time-ordered id: milliseconds since the epoch in hex, then 64 random bits."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"evt_{millis:012x}{os.urandom(8).hex()}"


def clock() -> float:
    """The time an event record is changed at: the one clock its ``updated_at`` is read from (tests set it here)."""
    return time.time()


def stamp(record: EventRecord) -> float:
    """Mark ``record`` as changed now; every writer of a record's status or time stamps it here (or reads ``clock``)."""
    record.updated_at = clock()
    return record.updated_at


def event_fields(record: EventRecord) -> dict[str, str]:
    """The hash fields of a record; JSON where the value is structured."""
    return {
        FIELD_ID: record.id,
        FIELD_SOURCE: record.source,
        FIELD_TYPE: record.type,
        FIELD_DELIVERY_ID: record.delivery_id,
        FIELD_RECEIVED_AT: repr(record.received_at),
        FIELD_HEADERS: jsontext.dumps(record.headers),
        FIELD_PAYLOAD: jsontext.dumps(record.payload),
        **status_fields(record, with_actions=True),
    }


def status_fields(record: EventRecord, *, with_actions: bool = False) -> dict[str, str]:
    """The fields a status change writes, and ``actions`` when asked; never the payload or headers."""
    fields = {
        FIELD_STATUS: str(record.status),
        FIELD_ATTEMPTS: str(record.attempts),
        FIELD_ERROR: record.error or "",
        FIELD_UPDATED_AT: repr(record.updated_at or record.received_at),
    }
    if with_actions:
        fields[FIELD_ACTIONS] = jsontext.dumps([asdict(action) for action in record.actions])
    return fields


def parse_record(fields: Mapping[bytes, bytes]) -> EventRecord:
    """Rebuild a record from its hash fields."""
    data = {key.decode(): value.decode() for key, value in fields.items()}
    try:
        return EventRecord(
            id=data[FIELD_ID],
            source=data[FIELD_SOURCE],
            type=data[FIELD_TYPE],
            delivery_id=data[FIELD_DELIVERY_ID],
            received_at=float(data[FIELD_RECEIVED_AT]),
            headers=json.loads(data[FIELD_HEADERS]),
            payload=json.loads(data[FIELD_PAYLOAD]),
            status=EventStatus(data[FIELD_STATUS]),
            attempts=int(data[FIELD_ATTEMPTS]),
            actions=[ActionResult(**item) for item in json.loads(data[FIELD_ACTIONS])],
            error=data[FIELD_ERROR] or None,
            updated_at=float(data[FIELD_UPDATED_AT]),
            in_flight={key[len(IN_FLIGHT) :]: value for key, value in data.items() if key.startswith(IN_FLIGHT)},
            interrupted=int(data.get(FIELD_INTERRUPTED) or 0),
        )
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        # RecursionError: a payload nested deeper than any reader can follow (the receiver caps depth at the door;
        # a record written before that cap, or by hand, must still not crash its readers).
        raise CorruptRecord(f"event record {data.get(FIELD_ID, '?')} is corrupt ({exc.__class__.__name__})") from None


def queue_lifetime(pipe: redis.client.Pipeline, record: EventRecord, retention_seconds: int) -> None:
    """What a status means for the record's keys: a dead letter is kept (and listed), a final event leaves its
    source's pending set, anything else expires after the retention period."""
    key = event_key(record.id)
    if record.status == EventStatus.FAILED:
        pipe.persist(key)
        pipe.zadd(DLQ_KEY, {record.id: record.updated_at})
    else:
        pipe.expire(key, retention_seconds)
    if record.status in FINAL_STATUSES:
        pipe.zrem(pending_key(record.source), record.id)


def corrupt_placeholder(event_id: str, reason: str) -> EventRecord:
    """What readers show for a record that cannot be parsed: its id, and why, as a failed event."""
    return EventRecord(
        id=event_id, source="?", type="?", delivery_id="", received_at=0.0, headers={}, payload=None,
        status=EventStatus.FAILED, error=reason,
    )  # fmt: skip


# KEYS: dedup key, event key, index, queue list, the source's pending set.
# ARGV: event id, dedup ttl, retention ttl, index score, queue message, the source's cap of unfinished events
# (answered with -1 when reached), then the record's fields, name and value by turns (as they are: a JSON object of
# them cost a JSON encoding in the receiver and a cjson decode in Redis for each delivery).
# Returns the first event's id for a duplicate, or false for a new event.
INGEST_SCRIPT = """
local first = redis.call('GET', KEYS[1])
if first then return first end
if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[6]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
redis.call('LPUSH', KEYS[4], ARGV[5])
return false
"""


def ingest_arguments(
    record: EventRecord,
    *,
    queue: str,
    message: bytes,
    dedup_seconds: int,
    retention_seconds: int,
    max_waiting: int = 10_000,
) -> tuple[list[str], list[str | bytes]]:
    """KEYS and ARGV for ``INGEST_SCRIPT``."""
    keys = [
        dedup_key(record.source, record.delivery_id), event_key(record.id), INDEX_KEY, queue,
        pending_key(record.source),
    ]  # fmt: skip
    argv: list[str | bytes] = [
        record.id,
        str(dedup_seconds),
        str(retention_seconds),
        str(int(record.received_at * 1000)),
        message,
        str(max_waiting),
    ]
    for name, value in event_fields(record).items():
        argv += (name, value)
    return keys, argv


class EventStore:
    """Reads and updates event records with a synchronous Redis client (workers and the CLI)."""

    def __init__(self, client: redis.Redis, *, retention_seconds: int) -> None:
        self.redis = client
        self.retention_seconds = retention_seconds

    def get(self, event_id: str) -> EventRecord:
        """The record, or ``EventNotFound``."""
        fields = self._call(self.redis.hgetall, event_key(event_id))
        if not fields:
            raise EventNotFound(f"no event {event_id!r} (unknown or expired)")
        return parse_record(fields)

    def save(self, record: EventRecord, *, index: bool = False) -> None:
        """Write the whole record back; dead letters are kept without expiry."""
        self._write(record, event_fields, index=index)

    def _write(
        self,
        record: EventRecord,
        fields: Callable[[EventRecord], dict[str, str]],
        *,
        index: bool = False,
        also: Also | None = None,
    ) -> None:
        stamp(record)
        key = event_key(record.id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields(record))  # type: ignore[arg-type]
            queue_lifetime(pipe, record, self.retention_seconds)
            if index:
                pipe.zadd(INDEX_KEY, {record.id: int(record.received_at * 1000)})
            if also is not None:  # the caller's own writes (metrics, history) in the same transaction
                also(pipe)
            self._call(pipe.execute)

    def save_status(self, record: EventRecord, *, with_actions: bool = False, also: Also | None = None) -> None:
        """Write just the status fields (status, attempts, error, updated_at), and the results ``with_actions``.

        One HSET of those fields, never the payload or headers. A failed event becomes a dead letter (kept without
        expiry), as with ``save``.
        """
        self._write(record, partial(status_fields, with_actions=with_actions), also=also)

    def recent(self, limit: int = 20, *, status: EventStatus | None = None) -> list[EventRecord]:
        """The newest records first, skipping ids whose record has expired."""
        found: list[EventRecord] = []
        start = 0
        batch = max(limit, 50)
        while len(found) < limit:
            ids = self._call(self.redis.zrevrange, INDEX_KEY, start, start + batch - 1)
            if not ids:
                break
            for record in self._load_many(ids):
                if status is None or record.status == status:
                    found.append(record)
            start += batch
        return found[:limit]

    def dead_letter_corrupt(self, event_id: str, reason: str) -> None:
        """Move a record that cannot be parsed to the dead letters, with the reason, touching nothing else."""
        key, at = event_key(event_id), clock()
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key, mapping={FIELD_STATUS: str(EventStatus.FAILED), FIELD_ERROR: reason, FIELD_UPDATED_AT: repr(at)}
            )
            pipe.persist(key)
            pipe.zadd(DLQ_KEY, {event_id: at})
            self._call(pipe.execute)

    def unfinished(self, *, idle_seconds: float, now: float | None = None) -> list[tuple[str, str]]:
        """``(id, updated_at)`` of events not yet final and untouched for ``idle_seconds`` (sweeper candidates).

        Reads two fields per event, not whole records: it runs every minute over the retention window.
        """
        now = clock() if now is None else now
        oldest = int((now - self.retention_seconds) * 1000)
        newest = int((now - idle_seconds) * 1000)
        ids = [event_id.decode() for event_id in self._call(self.redis.zrangebyscore, INDEX_KEY, oldest, newest)]
        with self.redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.hmget(event_key(event_id), FIELD_STATUS, FIELD_UPDATED_AT)
            states = self._call(pipe.execute)
        return [
            (event_id, updated.decode())
            for event_id, (status, updated) in zip(ids, states, strict=True)
            if status is not None
            and updated is not None
            and status.decode() not in FINAL_STATUSES
            and float(updated) <= now - idle_seconds
        ]

    def requeue_if_unchanged(self, event_id: str, updated_at: str, *, queue: str, message: bytes) -> bool:
        """Queue an unfinished event again, only if nobody touched it since ``updated_at`` was read.

        The status change and the message go in one transaction (see ``replay``).
        """
        key = event_key(event_id)
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                status, current = (_text(value) for value in pipe.hmget(key, FIELD_STATUS, FIELD_UPDATED_AT))
                if current != updated_at or status is None or EventStatus(status) in FINAL_STATUSES:
                    return False
                pipe.multi()
                pipe.hset(key, mapping={FIELD_STATUS: str(EventStatus.QUEUED), FIELD_UPDATED_AT: repr(clock())})
                pipe.lpush(queue, message)
                self._call(pipe.execute)
            except redis.WatchError:
                return False
        return True

    def prune_pending(self) -> int:
        """Drop finished or vanished events from the per-source pending sets (those the status writes missed)."""
        removed = 0
        for key in self._call(lambda: list(self.redis.scan_iter(match=pending_key("*"), count=100))):
            ids = [event_id.decode() for event_id in self._call(self.redis.zrange, key, 0, -1)]
            with self.redis.pipeline(transaction=False) as pipe:
                for event_id in ids:
                    pipe.hget(event_key(event_id), FIELD_STATUS)
                states = self._call(pipe.execute)
            gone = [
                i for i, state in zip(ids, states, strict=True) if state is None or state.decode() in FINAL_STATUSES
            ]
            if gone:
                removed += int(self._call(self.redis.zrem, key, *gone))
        return removed

    def trim_index(self, now: float | None = None) -> int:
        """Drop index entries older than the retention period (their records have expired)."""
        cutoff = int(((time.time() if now is None else now) - self.retention_seconds) * 1000)
        removed: int = self._call(self.redis.zremrangebyscore, INDEX_KEY, "-inf", cutoff)
        return removed

    def dead_letters(self, limit: int = 100) -> list[EventRecord]:
        """Dead-lettered events, newest first."""
        return list(self._load_many(self._call(self.redis.zrevrange, DLQ_KEY, 0, limit - 1)))

    def replay(
        self,
        event_id: str,
        *,
        queue: str,
        message: bytes,
        resolve: Callable[[EventRecord], EventRecord] | None = None,
    ) -> EventRecord:
        """Queue an event again with a fresh attempt budget; actions already done stay done.

        ``resolve`` may change the record first (``worker.store.inflight.resolve_unknown``: actions of unknown outcome).
        The record's reset and the message go in one transaction, pushed straight onto the queue's list as the
        receiver does: no exchange routing that a lost binding key could silently drop.
        """
        record = self.get(event_id)
        if resolve is not None:
            record = resolve(record)
        record.status = EventStatus.QUEUED
        record.attempts = 0
        record.error = None
        stamp(record)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(DLQ_KEY, event_id)
            pipe.hset(event_key(event_id), mapping=event_fields(record))  # type: ignore[arg-type]
            if record.in_flight:
                pipe.hdel(event_key(event_id), *(IN_FLIGHT + key for key in record.in_flight))
            pipe.hdel(event_key(event_id), FIELD_INTERRUPTED)
            pipe.zadd(pending_key(record.source), {event_id: int(record.received_at * 1000)})
            pipe.expire(event_key(event_id), self.retention_seconds)
            pipe.lpush(queue, message)
            self._call(pipe.execute)
        return record

    def purge_dead_letter(self, event_id: str) -> bool:
        """Delete a dead-lettered event for good; False if it was not a dead letter."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(DLQ_KEY, event_id)
            pipe.delete(event_key(event_id))
            pipe.zrem(INDEX_KEY, event_id)
            removed, _, _ = self._call(pipe.execute)
        return bool(removed)

    def dead_letter_count(self) -> int:
        """How many events are in the dead letters."""
        count: int = self._call(self.redis.zcard, DLQ_KEY)
        return count

    def _load_many(self, ids: Iterable[bytes]) -> Iterable[EventRecord]:
        names = [event_id.decode() for event_id in ids]
        with self.redis.pipeline(transaction=False) as pipe:
            for event_id in names:
                pipe.hgetall(event_key(event_id))
            results = self._call(pipe.execute)
        return [_parse_or_placeholder(name, fields) for name, fields in zip(names, results, strict=True) if fields]

    @staticmethod
    def _call(function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except redis.RedisError as exc:
            raise StoreError(f"Redis error: {exc.__class__.__name__}") from None


def _parse_or_placeholder(event_id: str, fields: Mapping[bytes, bytes]) -> EventRecord:
    # One unreadable record must not hide every other one from a list.
    try:
        return parse_record(fields)
    except CorruptRecord as exc:
        return corrupt_placeholder(event_id, str(exc))


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
