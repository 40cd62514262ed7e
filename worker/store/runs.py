"""The Redis side of one event run: its start in one round trip, and the writes it gathers into one transaction.

A run starts with ``START_SCRIPT``: take the event lock, read the record and, for an event due a fresh attempt
within its budget (``queued`` or ``retrying``), mark it ``running``, count the attempt and append its history entry.
Anything else (already final, left ``running`` by a dead run, over its budget, unreadable) is read and left as it
is: the run decides in Python, on the rare path, with round trips of its own. A marked run also gets the heads of
the tokens its calls may use (``worker.tokens.store.TokenStore.primed``), read a moment before its first call.

Its writes (``Writes``) gather everything else a run changes: the record's fields, in-flight marks to drop, history
entries, counters and the lock's release; ``commit`` sends them as one MULTI/EXEC. The release is a compare-and-
delete script queued inside that transaction, so finishing an event costs one round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from string import Template

import redis
from redis.exceptions import NoScriptError

from worker.errors import StoreError
from worker.store import events, history
from worker.store.events import EventRecord, EventStatus, parse_record, queue_lifetime, stamp, status_fields
from worker.store.keyspace import (
    FIELD_ATTEMPTS,
    FIELD_STATUS,
    FIELD_UPDATED_AT,
    IN_FLIGHT,
    TOKEN_HEAD_FIELDS,
    TokenHead,
    event_key,
    event_lock_key,
    history_key,
    token_key,
)

# KEYS: the event lock, the event record, its history, then the tokens its calls may use.
# ARGV: lock token, lock ms, "1" when the lock is already held (taken over), now, attempts allowed (a run is marked
# only while fewer have run: the bound of tasks.run.retries_spent), retention seconds, the history entry up to its
# attempt number, history cap, history seconds.
# Returns {0} when the lock is held elsewhere, {1} when there is no record, else {2 or 3 (marked), fields, the
# tokens' heads} (heads are read only for a marked run: the one about to call).
START_SCRIPT = Template("""
if ARGV[3] ~= '1' and not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
local status = redis.call('HGET', KEYS[2], '$status')
if not status then return {1} end
local attempts = tonumber(redis.call('HGET', KEYS[2], '$attempts'))
local marked = 0
if (status == '$queued' or status == '$retrying') and attempts and attempts < tonumber(ARGV[5]) then
  attempts = attempts + 1
  redis.call('HSET', KEYS[2], '$status', '$running', '$attempts', attempts, '$updated_at', ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[6])
  redis.call('RPUSH', KEYS[3], ARGV[7] .. attempts .. '}')
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[8]), -1)
  redis.call('EXPIRE', KEYS[3], ARGV[9])
  marked = 1
end
local heads = {}
for i = 4, #KEYS do
  if marked == 1 then heads[#heads + 1] = redis.call('HMGET', KEYS[i], $head) end
end
return {2 + marked, redis.call('HGETALL', KEYS[2]), heads}
""").substitute(
    status=FIELD_STATUS, attempts=FIELD_ATTEMPTS, updated_at=FIELD_UPDATED_AT, queued=EventStatus.QUEUED,
    retrying=EventStatus.RETRYING, running=EventStatus.RUNNING,
    head=", ".join(f"'{name}'" for name in TOKEN_HEAD_FIELDS),
)  # fmt: skip

_START_SHA = hashlib.sha1(START_SCRIPT.encode(), usedforsecurity=False).hexdigest()

# KEYS: a lock. ARGV: the holder's token. Deletes the lock only while it holds that token.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Start(IntEnum):
    """What the start found."""

    HELD = 0  # another run holds the event's lock
    MISSING = 1  # no record (expired or purged)
    LOADED = 2  # read, left as it was: the run decides what it means
    MARKED = 3  # read and marked running, its attempt counted and told


@dataclass(frozen=True)
class Started:
    """The start's answer; ``record`` is None when held or missing."""

    state: Start
    record: EventRecord | None = None
    heads: dict[str, TokenHead] = field(default_factory=dict)  # token name -> its head, read for a marked run


@dataclass(frozen=True)
class StartArgs:
    """What the start needs besides the event's id."""

    token: str
    lock_seconds: float
    max_attempts: int
    retention_seconds: int
    worker: str
    history_seconds: int
    have_lock: bool = False
    tokens: tuple[str, ...] = ()  # names of the tokens the run's calls may use


def start(client: redis.Redis, event_id: str, args: StartArgs) -> Started:
    """Take the lock, read the record and mark a fresh attempt running: one round trip (``START_SCRIPT``)."""
    now = events.clock()
    # The entry as ``history.entry`` writes it, its attempt number (known only inside the script) left to append.
    head = history.entry("attempt", now=now, worker=args.worker, attempt=0)
    head = head[: head.rindex("0}")]
    keys = [event_lock_key(event_id), event_key(event_id), history_key(event_id), *map(token_key, args.tokens)]
    argv = [
        args.token, str(int(args.lock_seconds * 1000)), "1" if args.have_lock else "0", repr(now),
        str(args.max_attempts), str(args.retention_seconds), head, str(history.MAX_ENTRIES), str(args.history_seconds),
    ]  # fmt: skip
    try:
        try:
            reply = client.evalsha(_START_SHA, len(keys), *keys, *argv)
        except NoScriptError:  # a server that has not seen it yet (restarted, flushed): EVAL caches it
            reply = client.eval(START_SCRIPT, len(keys), *keys, *argv)
    except redis.RedisError as exc:
        raise StoreError(f"Redis error: {exc.__class__.__name__}") from None
    state = Start(int(reply[0]))
    if state in (Start.HELD, Start.MISSING):
        return Started(state)
    flat = reply[1]
    heads = {name: (head[0], head[1], head[2]) for name, head in zip(args.tokens, reply[2], strict=False)}
    return Started(state, parse_record(dict(zip(flat[::2], flat[1::2], strict=True))), heads)


Queue = Callable[[redis.client.Pipeline], None]


@dataclass
class Writes:
    """What a run has changed and not written yet; ``commit`` writes it all in one transaction."""

    record: EventRecord
    retention_seconds: int
    fields: dict[str, str] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)  # fields to delete (in-flight marks whose outcome is known)
    also: list[Queue] = field(default_factory=list)  # history entries, counters, the lock's release
    lifetime: bool = False  # the record's status changed: its expiry, dead letters and pending set follow it

    def results(self) -> None:
        """The action results changed."""
        self.fields.update(status_fields(self.record, with_actions=True))

    def status(self) -> None:
        """The status (and with it attempts and error) changed."""
        self.fields.update(status_fields(self.record))
        self.lifetime = True

    def landed(self, key: str) -> None:
        """The in-flight mark of action ``key`` goes: its outcome is recorded."""
        self.drop.append(IN_FLIGHT + key)
        self.record.in_flight.pop(key, None)

    def release(self, lock_name: str, token: bytes) -> None:
        """Release the lock in the same transaction (only while it is still ours)."""
        self.also.append(lambda pipe: pipe.eval(RELEASE_SCRIPT, 1, lock_name, token))

    def __bool__(self) -> bool:
        return bool(self.fields or self.drop or self.also)

    def commit(self, client: redis.Redis) -> None:
        """Write it all in one MULTI/EXEC, the record stamped (``events.stamp``) when it changed; then start afresh."""
        key = event_key(self.record.id)
        if self.fields or self.drop:
            self.fields[FIELD_UPDATED_AT] = repr(stamp(self.record))
        with client.pipeline(transaction=True) as pipe:
            if self.fields:
                pipe.hset(key, mapping=self.fields)  # type: ignore[arg-type]
            if self.drop:
                pipe.hdel(key, *self.drop)
            if self.lifetime:
                queue_lifetime(pipe, self.record, self.retention_seconds)
            for queue in self.also:
                queue(pipe)
            try:
                pipe.execute()
            except redis.RedisError as exc:
                raise StoreError(f"Redis error: {exc.__class__.__name__}") from None
        self.fields, self.drop, self.also, self.lifetime = {}, [], [], False


def release(client: redis.Redis, lock_name: str, token: str) -> None:
    """Release a lock only while it still holds ``token`` (one round trip)."""
    try:
        client.eval(RELEASE_SCRIPT, 1, lock_name, token)
    except redis.RedisError as exc:
        raise StoreError(f"Redis error: {exc.__class__.__name__}") from None
