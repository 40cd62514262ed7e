"""A dead worker's messages go back to the queue; a live worker's stay where they are."""

from __future__ import annotations

import json

import fakeredis
import pytest

from worker.liveness.heartbeat import ALIVE_KEY
from worker.liveness.recovery import (
    UNKNOWN_HOLDER_GRACE_SECONDS,
    recover,
)
from worker.store.keyspace import CHANNELS_KEY, HOLDERS_KEY, UNACKED_INDEX_KEY, UNACKED_KEY

QUEUE = "relay.events"
NOW = 1_000_000.0


def _deliver(client: fakeredis.FakeRedis, tag: str, *, holder: str | None, age: float, queue: str = QUEUE) -> None:
    payload = {"body": tag, "headers": {}, "properties": {"delivery_info": {"routing_key": queue}}}
    client.hset(UNACKED_KEY, tag, json.dumps([payload, "", queue]))
    client.zadd(UNACKED_INDEX_KEY, {tag: NOW - age})
    if holder is not None:
        client.hset(HOLDERS_KEY, tag, holder)


@pytest.fixture
def client() -> fakeredis.FakeRedis:
    server = fakeredis.FakeRedis()
    server.set(ALIVE_KEY + "live:1", "1")
    return server


@pytest.mark.parametrize(
    ("holder", "age", "handed_back"),
    [
        ("dead:2", 1.0, True),  # its holder stopped beating: back at once, however young
        ("live:1", 3000.0, False),  # a live worker's long task keeps its message
        (None, UNKNOWN_HOLDER_GRACE_SECONDS - 5, False),  # holder about to be written
        (None, UNKNOWN_HOLDER_GRACE_SECONDS + 5, True),  # the worker died before it could say it held it
    ],
)
def test_only_orphaned_messages_are_handed_back(
    client: fakeredis.FakeRedis, holder: str | None, age: float, handed_back: bool
) -> None:
    _deliver(client, "tag-1", holder=holder, age=age)

    returned = recover(client, {QUEUE}, now=NOW)

    assert returned == (["tag-1"] if handed_back else [])
    assert client.hexists(UNACKED_KEY, "tag-1") is not handed_back
    assert client.llen(QUEUE) == (1 if handed_back else 0)
    if handed_back:
        payload = json.loads(client.lindex(QUEUE, 0))  # type: ignore[arg-type]
        assert payload["body"] == "tag-1"
        assert payload["headers"]["redelivered"] is True
        assert client.zscore(UNACKED_INDEX_KEY, "tag-1") is None
        assert not client.hexists(HOLDERS_KEY, "tag-1")


def test_another_queues_message_is_left_to_kombu(client: fakeredis.FakeRedis) -> None:
    _deliver(client, "tag-1", holder="dead:2", age=1.0, queue="someone.else")

    assert recover(client, {QUEUE}, now=NOW) == []
    assert client.hexists(UNACKED_KEY, "tag-1")
    assert client.llen("someone.else") == 0


def test_holders_of_acknowledged_messages_are_forgotten(client: fakeredis.FakeRedis) -> None:
    client.hset(HOLDERS_KEY, "acked-long-ago", "live:1")
    _deliver(client, "running", holder="live:1", age=5.0)

    recover(client, {QUEUE}, now=NOW)

    assert client.hkeys(HOLDERS_KEY) == [b"running"]


def test_an_unreadable_entry_is_removed_not_pushed(client: fakeredis.FakeRedis) -> None:
    client.hset(UNACKED_KEY, "junk", b"\xff not json")
    client.hset(HOLDERS_KEY, "junk", "dead:2")

    assert recover(client, {QUEUE}, now=NOW) == ["junk"]
    assert client.hlen(UNACKED_KEY) == 0
    assert client.llen(QUEUE) == 0


def test_a_live_workers_messages_from_a_channel_it_left_are_handed_back(client: fakeredis.FakeRedis) -> None:
    # After a reconnect (or a failover) the worker consumes from a new channel: what it received on the old one can
    # never be acknowledged, though the worker itself is alive.
    client.hset(CHANNELS_KEY, "live:1", "new")
    _deliver(client, "old-channel", holder="live:1#old", age=1.0)
    _deliver(client, "new-channel", holder="live:1#new", age=1.0)

    assert recover(client, {QUEUE}, now=NOW) == ["old-channel"]
    assert client.hexists(UNACKED_KEY, "new-channel")


def test_channels_of_dead_workers_are_forgotten(client: fakeredis.FakeRedis) -> None:
    client.hset(CHANNELS_KEY, mapping={"live:1": "a", "dead:2": "b"})

    recover(client, {QUEUE}, now=NOW)

    assert client.hkeys(CHANNELS_KEY) == [b"live:1"]
