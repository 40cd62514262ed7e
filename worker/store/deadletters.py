"""Keeping the dead letters bounded: a retention period and a size cap, enforced by the sweeper.

Dead letters do not expire with the other event records (``EventStore.save`` persists them): an operator must see
and replay them. They are not kept for ever either: past ``dead_letters.retention_days`` (default 30) a dead letter
is purged, and past ``dead_letters.max_entries`` the oldest ones are, with a warning from ``warn_fraction`` of the
cap on (the ``relay_dead_letters`` gauge on ``/metrics`` shows the count).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import redis

from worker.store.keyspace import DLQ_KEY, INDEX_KEY, event_key

log = logging.getLogger("relay.deadletters")
BATCH = 500


@dataclass(frozen=True)
class Trimmed:
    """What one enforcement removed."""

    expired: int
    over_cap: int
    remaining: int


def purge_older_than(client: redis.Redis, seconds: float, *, now: float | None = None) -> int:
    """Delete every dead letter dead-lettered more than ``seconds`` ago; returns how many."""
    cutoff = (time.time() if now is None else now) - seconds
    removed = 0
    while ids := list(client.zrangebyscore(DLQ_KEY, "-inf", cutoff, start=0, num=BATCH)):
        removed += _purge(client, [_text(event_id) for event_id in ids])
    return removed


def enforce(client: redis.Redis, *, retention_seconds: float, cap: int, warn_fraction: float = 0.8) -> Trimmed:
    """Apply the retention period and the size cap; warn when the dead letters near the cap."""
    expired = purge_older_than(client, retention_seconds)
    count = int(client.zcard(DLQ_KEY))
    over = max(0, count - cap)
    if over:
        oldest = [_text(event_id) for event_id in client.zrange(DLQ_KEY, 0, over - 1)]
        _purge(client, oldest)
        log.warning("dead letters over their cap of %d: purged the %d oldest", cap, over)
        count -= over
    elif count >= cap * warn_fraction:
        log.warning("dead letters at %d of their cap of %d: replay or purge them (relay dlq)", count, cap)
    return Trimmed(expired, over, count)


def _purge(client: redis.Redis, event_ids: list[str]) -> int:
    if not event_ids:
        return 0
    with client.pipeline(transaction=True) as pipe:
        pipe.zrem(DLQ_KEY, *event_ids)
        pipe.delete(*(event_key(event_id) for event_id in event_ids))
        pipe.zrem(INDEX_KEY, *event_ids)
        removed, _, _ = pipe.execute()
    return int(removed)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
