"""What operators watch: queue depth (unacknowledged included), dead letters, and the workers' canary.

The canary is a task beat sends through the events queue; a worker that runs it writes the time. Its age is the
reliable liveness signal: a worker process can be alive yet no longer consuming (celery#10205).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import redis
from prometheus_client import Gauge

from worker.events import DLQ_KEY
from worker.queue import UNACKED_KEY

CANARY_KEY = "relay:canary"
CANARY_INTERVAL_SECONDS = 30.0
# kombu keeps one list per priority step: "<queue>", "<queue>\x06\x163", ... (count them all).
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)

QUEUE_READY = Gauge("relay_queue_ready", "Messages waiting in the events queue")
QUEUE_UNACKED = Gauge("relay_queue_unacked", "Messages delivered to a worker and not yet acknowledged")
DEAD_LETTERS = Gauge("relay_dead_letters", "Events in the dead letters")
CANARY_AGE = Gauge("relay_worker_canary_age_seconds", "Seconds since a worker last ran the canary task")


@dataclass(frozen=True)
class Health:
    """A snapshot of the queue and the workers."""

    queue_ready: int
    queue_unacked: int
    dead_letters: int
    canary_age_seconds: float | None

    @property
    def workers_alive(self) -> bool:
        """True when a worker ran the canary recently (within three beats of it)."""
        return self.canary_age_seconds is not None and self.canary_age_seconds < 3 * CANARY_INTERVAL_SECONDS

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "workers_alive": self.workers_alive}


def queue_keys(queue: str) -> list[str]:
    """Every list kombu may keep for ``queue``."""
    return [queue if step == 0 else f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS]


def snapshot(client: redis.Redis, queue: str, *, now: float | None = None) -> Health:
    """Read the queue, the dead letters and the canary in one round trip."""
    with client.pipeline(transaction=False) as pipe:
        for key in queue_keys(queue):
            pipe.llen(key)
        pipe.hlen(UNACKED_KEY)
        pipe.zcard(DLQ_KEY)
        pipe.get(CANARY_KEY)
        *lengths, unacked, dead, canary = pipe.execute()
    now = time.time() if now is None else now
    age = max(0.0, now - float(canary)) if canary else None
    return Health(sum(lengths), unacked, dead, age)


def observe(health: Health) -> None:
    """Set the Prometheus gauges from a snapshot."""
    QUEUE_READY.set(health.queue_ready)
    QUEUE_UNACKED.set(health.queue_unacked)
    DEAD_LETTERS.set(health.dead_letters)
    CANARY_AGE.set(float("nan") if health.canary_age_seconds is None else health.canary_age_seconds)


def beat(client: redis.Redis, *, now: float | None = None) -> None:
    """Record that a worker just ran the canary."""
    client.set(CANARY_KEY, repr(time.time() if now is None else now))
