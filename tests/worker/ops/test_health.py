"""The health snapshot counts every priority list and the unacknowledged messages, and ages the canary."""

from __future__ import annotations

import redis

from worker.ops.health import beat, snapshot
from worker.store.events import DLQ_KEY
from worker.store.messages import UNACKED_KEY, queue_keys


def test_snapshot_counts_every_priority_list_unacked_and_dead_letters(fake_redis: redis.Redis) -> None:
    for key in queue_keys("relay.events"):
        fake_redis.lpush(key, "m")
    fake_redis.lpush("other.queue", "not ours")
    fake_redis.hset(UNACKED_KEY, mapping={"t1": "m", "t2": "m"})
    fake_redis.zadd(DLQ_KEY, {"evt_1": 1.0})

    health = snapshot(fake_redis, "relay.events", now=100.0)

    assert (health.queue_ready, health.queue_unacked, health.dead_letters) == (4, 2, 1)
    assert health.canary_age_seconds is None
    assert not health.workers_alive


def test_the_canary_age_says_whether_workers_consume(fake_redis: redis.Redis) -> None:
    beat(fake_redis, now=1000.0)

    assert snapshot(fake_redis, "relay.events", now=1010.0).workers_alive
    assert not snapshot(fake_redis, "relay.events", now=1200.0).workers_alive
    assert snapshot(fake_redis, "relay.events", now=1010.0).canary_age_seconds == 10.0
