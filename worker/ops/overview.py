"""Everything an operator looks at, read from Redis in a few round trips: ``relay status`` and the status page.

Queues (waiting, in progress, the oldest waiting event's age), the processes online (their heartbeat keys), the
canary and beat, throughput from ``worker.ops.stats``' minutes, dead letters with their top reasons, tokens (days left,
status, next rotation) and the newest failures.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from worker.config import Settings
from worker.gitops import revisions
from worker.liveness.canary import BEAT_KEY, CANARY_KEY
from worker.liveness.heartbeat import ALIVE_KEY
from worker.ops import stats
from worker.store.events import EventStatus, EventStore
from worker.store.keyspace import (
    DLQ_KEY,
    FIELD_ERROR,
    FIELD_RECEIVED_AT,
    FIELD_UPDATED_AT,
    UNACKED_KEY,
    event_key,
    queue_keys,
)

DAY = 86400.0
TOP_REASONS = 5
REASON_SAMPLE = 200  # the newest dead letters read to rank reasons: bounded, whatever the backlog


@dataclass(frozen=True)
class Process:
    """One process online: its heartbeat key's owner and when it started."""

    owner: str
    started_at: float | None


@dataclass(frozen=True)
class TokenRow:
    """One stored token as the status views show it."""

    name: str
    target: str
    status: str
    days_left: float | None  # None: unknown or never expires
    expires_at: int | None
    next_rotation: float | None  # None: Relay does not rotate it


@dataclass(frozen=True)
class Failure:
    """One recent failed event."""

    id: str
    source: str
    type: str
    at: float
    error: str


@dataclass(frozen=True)
class GroupRow:
    """One synced gateway group: its last outcome and what the last drift check found."""

    target: str
    gateway_group: str
    last_applied: str | None
    outcome: str | None
    drifted: int | None  # changes the last drift check found; None: never checked


@dataclass
class Overview:
    """One reading of the whole system."""

    now: float
    waiting: int
    in_progress: int
    oldest_waiting_seconds: float | None
    processes: list[Process]
    canary_age_seconds: float | None
    beat_age_seconds: float | None
    dead_letters: int
    top_reasons: list[tuple[str, int]]
    tokens: list[TokenRow]
    failures: list[Failure]
    minutes: list[stats.Minute] = field(default_factory=list)
    gitops: list[GroupRow] = field(default_factory=list)

    def throughput(self, minutes: int) -> dict[str, Any]:
        """Received, finished and failed over the last ``minutes`` minutes."""
        return stats.totals(self.minutes[-minutes:])

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["top_reasons"] = [{"reason": reason, "count": count} for reason, count in self.top_reasons]
        data["throughput"] = {"5m": self.throughput(5), "60m": self.throughput(60)}
        return data


def gather(client: redis.Redis, settings: Settings, queue: str, *, now: float | None = None) -> Overview:
    """Read everything; raises ``redis.RedisError`` when Redis is unreachable."""
    now = time.time() if now is None else now
    with client.pipeline(transaction=False) as pipe:
        keys = queue_keys(queue)
        for key in keys:
            pipe.llen(key)
            pipe.lindex(key, -1)  # kombu LPUSHes and BRPOPs: the oldest message is at the tail
        pipe.hlen(UNACKED_KEY)
        pipe.zcard(DLQ_KEY)
        pipe.get(CANARY_KEY)
        pipe.get(BEAT_KEY)
        replies = pipe.execute()
    lists = [replies[2 * i : 2 * i + 2] for i in range(len(keys))]
    unacked, dead, canary, beat = replies[2 * len(keys) :]
    return Overview(
        now=now,
        waiting=sum(int(length) for length, _ in lists),
        in_progress=int(unacked),
        oldest_waiting_seconds=_oldest_wait(client, [tail for _, tail in lists if tail], now),
        processes=processes(client),
        canary_age_seconds=_age(canary, now),
        beat_age_seconds=_age(beat, now),
        dead_letters=int(dead),
        top_reasons=top_reasons(client),
        tokens=token_rows(client, settings, now),
        failures=recent_failures(client, settings),
        minutes=stats.series(client, 60, now=now),
        gitops=group_rows(client),
    )


def group_rows(client: redis.Redis) -> list[GroupRow]:
    """Every gateway group a sync has reconciled."""
    rows = []
    for target, group in revisions.groups(client):
        state = revisions.Revisions(client, target, group).state()
        drifted = state.drift.get("changes") if isinstance(state.drift, dict) else None
        rows.append(
            GroupRow(target, group, state.last_applied, state.outcome, drifted if isinstance(drifted, int) else None)
        )
    return rows


def _age(raw: bytes | None, now: float) -> float | None:
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, now - float(raw))  # type: ignore[arg-type]
    return None


def _message_event_id(raw: bytes) -> str | None:
    """The event id a queued ``process_event`` message carries (None for other tasks)."""
    with contextlib.suppress(ValueError, TypeError, KeyError, IndexError, binascii.Error):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        if args and str(args[0]).startswith("evt_"):
            return str(args[0])
    return None


def _oldest_wait(client: redis.Redis, tails: list[bytes], now: float) -> float | None:
    """Age of the oldest waiting message: since its event was last queued (a replay re-queues an old event)."""
    ids = [event_id for event_id in map(_message_event_id, tails) if event_id]
    if not tails:
        return None
    if not ids:
        return 0.0
    with client.pipeline(transaction=False) as pipe:
        for event_id in ids:
            pipe.hmget(event_key(event_id), FIELD_UPDATED_AT, FIELD_RECEIVED_AT)
        rows = pipe.execute()
    times = [float(updated or received) for updated, received in rows if updated or received]
    return max(0.0, now - min(times)) if times else None


def oldest_waiting(client: redis.Redis, queue: str, now: float) -> float | None:
    """Seconds the oldest waiting event has waited (None when nothing waits)."""
    with client.pipeline(transaction=False) as pipe:
        for key in queue_keys(queue):
            pipe.lindex(key, -1)
        tails = [tail for tail in pipe.execute() if tail]
    return _oldest_wait(client, tails, now)


def processes(client: redis.Redis) -> list[Process]:
    """The processes whose heartbeat key is alive, oldest first."""
    keys = sorted(client.scan_iter(match=ALIVE_KEY + "*", count=500))
    if not keys:
        return []
    found = []
    for key, value in zip(keys, client.mget(keys), strict=True):
        owner = key.decode().removeprefix(ALIVE_KEY)
        started = None
        with contextlib.suppress(TypeError, ValueError):
            started = float(value)  # type: ignore[arg-type]
            started = started if started > 1e9 else None  # "1": a process started before keys carried the time
        if value is not None:
            found.append(Process(owner, started))
    return sorted(found, key=lambda process: process.started_at or 0.0)


def reason_of(error: str | None) -> str:
    """A dead letter's reason without the rule and action prefix and details, so alike failures group."""
    text = error or ""
    text = text.split(": ", 1)[1] if text.startswith("rule ") and ": " in text else text
    return text.split(":", 1)[0].strip()[:80] or "no reason"


def top_reasons(client: redis.Redis, limit: int = TOP_REASONS) -> list[tuple[str, int]]:
    """The commonest reasons among the newest dead letters."""
    ids: list[bytes] = list(client.zrevrange(DLQ_KEY, 0, REASON_SAMPLE - 1))  # type: ignore[arg-type]
    if not ids:
        return []
    with client.pipeline(transaction=False) as pipe:
        for event_id in ids:
            pipe.hget(event_key(event_id.decode()), FIELD_ERROR)
        errors = pipe.execute()
    counts = Counter(reason_of(error.decode() if error else None) for error in errors)
    return counts.most_common(limit)


def recent_failures(client: redis.Redis, settings: Settings, limit: int = 10) -> list[Failure]:
    """The newest dead letters first (they are the failures an operator acts on)."""
    store = EventStore(client, retention_seconds=settings.retention_seconds)
    return [
        Failure(record.id, record.source, record.type, record.updated_at, record.error or "")
        for record in store.dead_letters(limit)
        if record.status == EventStatus.FAILED
    ]


def token_rows(client: redis.Redis, settings: Settings, now: float) -> list[TokenRow]:
    """Every stored token with its status now, days left and next rotation (metadata only: no key needed)."""
    from worker.tokens.keys import load_cipher
    from worker.tokens.policy import next_rotation, seconds_left, status_now
    from worker.tokens.store import TokenStore

    rows = []
    for record in TokenStore(client, lambda: load_cipher(settings.data_dir)).all():
        left = seconds_left(record.expires_at, now)
        rows.append(
            TokenRow(
                name=record.name,
                target=record.target,
                status=str(status_now(record, settings, now)),
                days_left=None if left is None else round(left / DAY, 1),
                expires_at=record.expires_at,
                next_rotation=next_rotation(record, settings),
            )
        )
    return sorted(rows, key=lambda row: (row.days_left is None, row.days_left or 0.0))
