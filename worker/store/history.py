"""One event's story: a bounded list of what happened to it, beside its record.

    relay:history:<id>     list of JSON entries ``{"at": <unix>, "kind": ..., ...}``, oldest first, at most
                           ``MAX_ENTRIES`` (the oldest are dropped), expiring with the event's record

Kinds: ``attempt`` (worker), ``action`` (rule, index, action_kind, target, request, status_code, ok, error, seconds),
``retry`` (reason, delay), ``finished`` (status, error), ``dead_lettered`` (reason), ``replayed`` (by).
Written in the pipeline the caller already sends when it passes one; a story is never worth failing the work.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

import redis

from worker.store.keyspace import HISTORY_KEY, history_key

__all__ = ["HISTORY_KEY", "MAX_ENTRIES", "append", "entry", "key", "read"]

MAX_ENTRIES = 200
DEFAULT_TTL_SECONDS = 7 * 86400

log = logging.getLogger("relay.history")


def key(event_id: str) -> str:
    """The history list of ``event_id``."""
    return history_key(event_id)


def append(
    into: redis.Redis | redis.client.Pipeline,
    event_id: str,
    kind: str,
    /,
    *,
    ttl: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
    **fields: Any,
) -> None:
    """Add one entry (capped, expiring after ``ttl``); queued on ``into`` when it is a pipeline."""
    text = entry(kind, now=now, **fields)
    if isinstance(into, redis.client.Pipeline):
        _queue(into, event_id, text, ttl)
        return
    with into.pipeline(transaction=False) as pipe:
        _queue(pipe, event_id, text, ttl)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("history of %s not recorded (%s)", event_id, type(exc).__name__)


def entry(kind: str, /, *, now: float | None = None, **fields: Any) -> str:
    """One entry as stored: JSON with ``at`` and ``kind`` first."""
    return json.dumps({"at": time.time() if now is None else now, "kind": kind, **fields}, default=str)


def _queue(pipe: redis.client.Pipeline, event_id: str, entry: str, ttl: int) -> None:
    pipe.rpush(key(event_id), entry)
    pipe.ltrim(key(event_id), -MAX_ENTRIES, -1)
    pipe.expire(key(event_id), ttl)


def read(client: redis.Redis, event_id: str) -> list[dict[str, Any]]:
    """The entries, oldest first (unreadable ones skipped)."""
    entries = []
    for raw in client.lrange(key(event_id), 0, -1):
        with contextlib.suppress(ValueError, TypeError):
            entry = json.loads(raw)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries
