"""Handing a dead worker's messages back to the queue, long before the broker's visibility timeout would.

kombu's Redis transport copies every delivered message into the ``unacked`` hash (by delivery tag) and the
``unacked_index`` sorted set (by delivery time) until it is acknowledged; only after ``visibility_timeout`` (an hour
by default, and it must exceed the longest task) does it push them back. Relay records which worker received each
message (``relay:holders``: delivery tag to ``host:pid`` of the worker's main process, written when the message
arrives) and that process keeps a heartbeat (``worker.liveness.heartbeat``). A message whose holder has stopped beating,
or whose holder was never recorded and which has waited longer than ``UNKNOWN_HOLDER_GRACE_SECONDS``, is pushed back
onto its queue and removed from ``unacked``, in one transaction watched on its entry. The event lock keeps the
handed-back run apart from any run of the same event that is still going (``worker.store.locks.EventLock``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import redis

from worker.liveness.heartbeat import alive_owners
from worker.store.keyspace import (
    CHANNELS_KEY,
    HOLDERS_KEY,
    MESSAGE_DELIVERY_INFO,
    MESSAGE_HEADERS,
    MESSAGE_PROPERTIES,
    MESSAGE_REDELIVERED,
    UNACKED_INDEX_KEY,
    UNACKED_KEY,
)

# A holder is written a moment after delivery; an entry with none for this long belongs to a worker that died
# in between (or wrote nothing because Redis blinked).
UNKNOWN_HOLDER_GRACE_SECONDS = 60.0

log = logging.getLogger("relay.recovery")


@dataclass(frozen=True)
class HeldMessage:
    """One delivered-but-unacknowledged message, as kombu keeps it."""

    tag: str
    raw: bytes
    delivered_at: float | None
    holder: str | None


def record_holder(client: redis.Redis, delivery_tag: str, holder: str) -> None:
    """Remember that ``holder`` (``host:pid#channel``) received the message ``delivery_tag``."""
    client.hset(HOLDERS_KEY, delivery_tag, holder)


_known_channels: dict[str, str] = {}


def record_channel(client: redis.Redis, owner: str, channel: str) -> None:
    """Say which broker channel ``owner`` consumes from now (written once per new channel)."""
    if _known_channels.get(owner) != channel:
        client.hset(CHANNELS_KEY, owner, channel)
        _known_channels[owner] = channel


def held_messages(client: redis.Redis) -> list[HeldMessage]:
    """Every unacknowledged message with its delivery time and recorded holder."""
    with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(UNACKED_KEY)
        pipe.zrange(UNACKED_INDEX_KEY, 0, -1, withscores=True)
        pipe.hgetall(HOLDERS_KEY)
        entries, index, holders = pipe.execute()
    times = {_text(tag): float(score) for tag, score in index}
    owners = {_text(tag): _text(owner) for tag, owner in holders.items()}
    return [HeldMessage(_text(tag), raw, times.get(_text(tag)), owners.get(_text(tag))) for tag, raw in entries.items()]


def orphaned(
    found: list[HeldMessage], alive: Collection[str], *, now: float, channels: Mapping[str, str] | None = None
) -> list[HeldMessage]:
    """The messages whose holder is dead or has moved to another broker channel, or unknown past the grace."""
    current = channels or {}
    lost = []
    for message in found:
        if message.holder is not None:
            owner, _, channel = message.holder.partition("#")
            moved = bool(channel) and current.get(owner, channel) != channel
            if owner not in alive or moved:
                lost.append(message)
        elif message.delivered_at is not None and now - message.delivered_at > UNKNOWN_HOLDER_GRACE_SECONDS:
            lost.append(message)
    return lost


def hand_back(client: redis.Redis, message: HeldMessage, queues: Collection[str]) -> bool:
    """Push one message back onto its queue and drop it from ``unacked``; False if it was acked meanwhile."""
    try:
        payload, _exchange, routing_key = json.loads(message.raw)
    except (ValueError, TypeError):
        log.error("unacked message %s cannot be read; removing it", message.tag)
        payload, routing_key = None, None
    if payload is not None and routing_key not in queues:
        return False  # another app's queue: kombu's own visibility timeout restores it through its exchange
    with client.pipeline() as pipe:
        try:
            pipe.watch(UNACKED_KEY)  # type: ignore[no-untyped-call]
            if not pipe.hexists(UNACKED_KEY, message.tag):
                return False
            pipe.multi()
            if payload is not None:
                _mark_redelivered(payload)
                # RPUSH: the consumer's BRPOP takes from the right, so a handed-back message is served next.
                pipe.rpush(routing_key, json.dumps(payload))
            pipe.hdel(UNACKED_KEY, message.tag)
            pipe.zrem(UNACKED_INDEX_KEY, message.tag)
            pipe.hdel(HOLDERS_KEY, message.tag)
            pipe.execute()
        except redis.WatchError:
            return False
    return True


def recover(client: redis.Redis, queues: Collection[str], *, now: float | None = None) -> list[str]:
    """Hand back every message held by a dead worker; forget holders of acknowledged ones. Returns the tags."""
    moment = time.time() if now is None else now
    found = held_messages(client)
    alive = alive_owners(client, sorted({d.holder.partition("#")[0] for d in found if d.holder is not None}))
    channels = {_text(k): _text(v) for k, v in client.hgetall(CHANNELS_KEY).items()}
    lost = orphaned(found, alive, now=moment, channels=channels)
    returned = [d.tag for d in lost if hand_back(client, d, queues)]
    for tag in returned:
        log.warning("message %s was held by a worker that stopped beating: handed back to the queue", tag)
    _forget_acked(client)
    _forget_dead_channels(client, channels, alive_owners(client, sorted(channels)))
    return returned


def _forget_dead_channels(client: redis.Redis, channels: Mapping[str, str], alive: Collection[str]) -> None:
    dead = [owner for owner in channels if owner not in alive]
    if dead:
        client.hdel(CHANNELS_KEY, *dead)


def _forget_acked(client: redis.Redis) -> None:
    # Holders first, then unacked: a holder is written after its message entered ``unacked``, so every holder
    # read here whose tag is missing from the later read belongs to a message that was acknowledged.
    holders = [_text(tag) for tag in client.hkeys(HOLDERS_KEY)]
    unacked = {_text(tag) for tag in client.hkeys(UNACKED_KEY)}
    stale = [tag for tag in holders if tag not in unacked]
    if stale:
        client.hdel(HOLDERS_KEY, *stale)


def _mark_redelivered(payload: dict[str, object]) -> None:
    headers = payload.get(MESSAGE_HEADERS)
    if isinstance(headers, dict):
        headers[MESSAGE_REDELIVERED] = True
    properties = payload.get(MESSAGE_PROPERTIES)
    info = properties.get(MESSAGE_DELIVERY_INFO) if isinstance(properties, dict) else None
    if isinstance(info, dict):
        info[MESSAGE_REDELIVERED] = True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
