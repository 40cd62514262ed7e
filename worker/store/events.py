"""The event store: one Redis hash per event, a time index, dedup keys and the dead letters.

Keys (all under ``relay:``):

    relay:event:<id>               hash: the event record (expires after the retention period)
    relay:events                   sorted set: event ids by received time (ms)
    relay:dedup:<source>:<id>      string: first event id for a delivery id (expires after the dedup window)
    relay:dlq                      sorted set: dead-lettered event ids by time; their records do not expire

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
from typing import Any

import redis

from worker import jsontext
from worker.errors import CorruptRecord, EventNotFound, StoreError

EVENT_KEY = "relay:event:"
INDEX_KEY = "relay:events"
DEDUP_KEY = "relay:dedup:"
DLQ_KEY = "relay:dlq"
PENDING_KEY = "relay:pending:"  # sorted set per source: its events not yet final (the per-source waiting cap)
WAITING_FULL = -1  # what INGEST_SCRIPT answers when the source already has its cap of unfinished events
IN_FLIGHT = "inflight:"  # prefix of the event hash's in-flight fields


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


def event_fields(record: EventRecord) -> dict[str, str]:
    """The hash fields of a record; JSON where the value is structured."""
    return {
        "id": record.id,
        "source": record.source,
        "type": record.type,
        "delivery_id": record.delivery_id,
        "received_at": repr(record.received_at),
        "headers": jsontext.dumps(record.headers),
        "payload": jsontext.dumps(record.payload),
        **status_fields(record, with_actions=True),
    }


def status_fields(record: EventRecord, *, with_actions: bool = False) -> dict[str, str]:
    """The fields a status change writes, and ``actions`` when asked; never the payload or headers."""
    fields = {
        "status": str(record.status),
        "attempts": str(record.attempts),
        "error": record.error or "",
        "updated_at": repr(record.updated_at or record.received_at),
    }
    if with_actions:
        fields["actions"] = jsontext.dumps([asdict(action) for action in record.actions])
    return fields


def parse_record(fields: Mapping[bytes, bytes]) -> EventRecord:
    """Rebuild a record from its hash fields."""
    data = {key.decode(): value.decode() for key, value in fields.items()}
    try:
        return EventRecord(
            id=data["id"],
            source=data["source"],
            type=data["type"],
            delivery_id=data["delivery_id"],
            received_at=float(data["received_at"]),
            headers=json.loads(data["headers"]),
            payload=json.loads(data["payload"]),
            status=EventStatus(data["status"]),
            attempts=int(data["attempts"]),
            actions=[ActionResult(**item) for item in json.loads(data["actions"])],
            error=data["error"] or None,
            updated_at=float(data["updated_at"]),
            in_flight={key[len(IN_FLIGHT) :]: value for key, value in data.items() if key.startswith(IN_FLIGHT)},
            interrupted=int(data.get("interrupted") or 0),
        )
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        # RecursionError: a payload nested deeper than any reader can follow (the receiver caps depth at the door;
        # a record written before that cap, or by hand, must still not crash its readers).
        raise CorruptRecord(f"event record {data.get('id', '?')} is corrupt ({exc.__class__.__name__})") from None


def corrupt_placeholder(event_id: str, reason: str) -> EventRecord:
    """What readers show for a record that cannot be parsed: its id, and why, as a failed event."""
    return EventRecord(
        id=event_id, source="?", type="?", delivery_id="", received_at=0.0, headers={}, payload=None,
        status=EventStatus.FAILED, error=reason,
    )  # fmt: skip


# KEYS: dedup key, event key, index, queue list, the source's pending set.
# ARGV: event id, dedup ttl, retention ttl, index score, queue message, the record's fields as one JSON object,
# the source's cap of unfinished events (answered with -1 when reached)
# (one argument instead of two dozen: packing arguments is the receiver's costliest client-side step).
# Returns the first event's id for a duplicate, or false for a new event.
INGEST_SCRIPT = """
local first = redis.call('GET', KEYS[1])
if first then return first end
if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[7]) then return -1 end
local fields = {}
for name, value in pairs(cjson.decode(ARGV[6])) do
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[2], unpack(fields))
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
        dedup_key(record.source, record.delivery_id), EVENT_KEY + record.id, INDEX_KEY, queue,
        PENDING_KEY + record.source,
    ]  # fmt: skip
    argv: list[str | bytes] = [
        record.id,
        str(dedup_seconds),
        str(retention_seconds),
        str(int(record.received_at * 1000)),
        message,
        jsontext.dumpb(event_fields(record)),
        str(max_waiting),
    ]
    return keys, argv


def dedup_key(source: str, delivery_id: str) -> str:
    """The key that remembers a delivery id for a source."""
    return f"{DEDUP_KEY}{source}:{delivery_id}"


class EventStore:
    """Reads and updates event records with a synchronous Redis client (workers and the CLI)."""

    def __init__(self, client: redis.Redis, *, retention_seconds: int) -> None:
        self.redis = client
        self.retention_seconds = retention_seconds

    def get(self, event_id: str) -> EventRecord:
        """The record, or ``EventNotFound``."""
        fields = self._call(self.redis.hgetall, EVENT_KEY + event_id)
        if not fields:
            raise EventNotFound(f"no event {event_id!r} (unknown or expired)")
        return parse_record(fields)

    def save(self, record: EventRecord, *, index: bool = False) -> None:
        """Write the whole record back; dead letters are kept without expiry."""
        record.updated_at = time.time()
        self._write(record, event_fields(record), index=index)

    def _write(
        self, record: EventRecord, fields: dict[str, str], *, index: bool = False, also: Also | None = None
    ) -> None:
        key = EVENT_KEY + record.id
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            if record.status == EventStatus.FAILED:
                pipe.persist(key)
                pipe.zadd(DLQ_KEY, {record.id: record.updated_at})
            else:
                pipe.expire(key, self.retention_seconds)
            if index:
                pipe.zadd(INDEX_KEY, {record.id: int(record.received_at * 1000)})
            if record.status in FINAL_STATUSES:
                pipe.zrem(PENDING_KEY + record.source, record.id)
            if also is not None:  # the caller's own writes (metrics, history) in the same transaction
                also(pipe)
            self._call(pipe.execute)

    def save_status(self, record: EventRecord, *, with_actions: bool = False, also: Also | None = None) -> None:
        """Write just the status fields (status, attempts, error, updated_at), and the results ``with_actions``.

        One HSET of those fields, never the payload or headers: a status changes twice per attempt. A failed
        event becomes a dead letter (kept without expiry), as with ``save``.
        """
        record.updated_at = time.time()
        self._write(record, status_fields(record, with_actions=with_actions), also=also)

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

    def save_actions(self, record: EventRecord, *, landed: str | None = None) -> None:
        """Write just the action results: called the moment an action has taken effect.

        ``landed`` is the key of that action: its in-flight mark goes in the same transaction.
        """
        record.updated_at = time.time()
        fields = status_fields(record, with_actions=True)
        mapping = {"actions": fields["actions"], "updated_at": fields["updated_at"]}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(EVENT_KEY + record.id, mapping=mapping)  # type: ignore[arg-type]
            if landed is not None:
                pipe.hdel(EVENT_KEY + record.id, IN_FLIGHT + landed)
            self._call(pipe.execute)
        record.in_flight.pop(landed or "", None)

    def dead_letter_corrupt(self, event_id: str, reason: str) -> None:
        """Move a record that cannot be parsed to the dead letters, with the reason, touching nothing else."""
        key = EVENT_KEY + event_id
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key, mapping={"status": str(EventStatus.FAILED), "error": reason, "updated_at": repr(time.time())}
            )
            pipe.persist(key)
            pipe.zadd(DLQ_KEY, {event_id: time.time()})
            self._call(pipe.execute)

    def unfinished(self, *, idle_seconds: float, now: float | None = None) -> list[tuple[str, str]]:
        """``(id, updated_at)`` of events not yet final and untouched for ``idle_seconds`` (sweeper candidates).

        Reads two fields per event, not whole records: it runs every minute over the retention window.
        """
        now = time.time() if now is None else now
        oldest = int((now - self.retention_seconds) * 1000)
        newest = int((now - idle_seconds) * 1000)
        ids = [event_id.decode() for event_id in self._call(self.redis.zrangebyscore, INDEX_KEY, oldest, newest)]
        with self.redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.hmget(EVENT_KEY + event_id, "status", "updated_at")
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
        key = EVENT_KEY + event_id
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                status, current = (_text(value) for value in pipe.hmget(key, "status", "updated_at"))
                if current != updated_at or status is None or EventStatus(status) in FINAL_STATUSES:
                    return False
                pipe.multi()
                pipe.hset(key, mapping={"status": str(EventStatus.QUEUED), "updated_at": repr(time.time())})
                pipe.lpush(queue, message)
                self._call(pipe.execute)
            except redis.WatchError:
                return False
        return True

    def prune_pending(self) -> int:
        """Drop finished or vanished events from the per-source pending sets (those the status writes missed)."""
        removed = 0
        for key in self._call(lambda: list(self.redis.scan_iter(match=PENDING_KEY + "*", count=100))):
            ids = [event_id.decode() for event_id in self._call(self.redis.zrange, key, 0, -1)]
            with self.redis.pipeline(transaction=False) as pipe:
                for event_id in ids:
                    pipe.hget(EVENT_KEY + event_id, "status")
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
        record.updated_at = time.time()
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(DLQ_KEY, event_id)
            pipe.hset(EVENT_KEY + event_id, mapping=event_fields(record))  # type: ignore[arg-type]
            if record.in_flight:
                pipe.hdel(EVENT_KEY + event_id, *(IN_FLIGHT + key for key in record.in_flight))
            pipe.hdel(EVENT_KEY + event_id, "interrupted")
            pipe.zadd(PENDING_KEY + record.source, {event_id: int(record.received_at * 1000)})
            pipe.expire(EVENT_KEY + event_id, self.retention_seconds)
            pipe.lpush(queue, message)
            self._call(pipe.execute)
        return record

    def purge_dead_letter(self, event_id: str) -> bool:
        """Delete a dead-lettered event for good; False if it was not a dead letter."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(DLQ_KEY, event_id)
            pipe.delete(EVENT_KEY + event_id)
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
                pipe.hgetall(EVENT_KEY + event_id)
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
