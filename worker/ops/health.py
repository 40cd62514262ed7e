"""What operators watch: queue depth (unacknowledged included), dead letters, the workers' canary, and the system
view judged from ``worker.ops.overview`` (each part ok, warn or fail, with the reason).

The canary (``worker.liveness.canary``) is a task beat sends through the events queue; a worker that runs it writes
the time. Its age is the reliable liveness signal: a worker process can be alive yet no longer consuming
(celery#10205).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import redis
from prometheus_client import Gauge

from worker.config import Settings
from worker.liveness.canary import BEAT_KEY, CANARY_INTERVAL_SECONDS, CANARY_KEY
from worker.ops.overview import Overview, gather
from worker.store.events import DLQ_KEY
from worker.store.keyspace import UNACKED_KEY, queue_keys

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


def beat_sent(client: redis.Redis, *, now: float | None = None) -> None:
    """Record that beat just sent the canary (so a stale canary says which of beat and the workers stopped)."""
    client.set(BEAT_KEY, repr(time.time() if now is None else now))


# --- The system view: each part named, with a level and the reason it is not fine. ---------------------------

OK, WARN, FAIL = "ok", "warn", "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}
STALE_SECONDS = 3 * CANARY_INTERVAL_SECONDS
# Beat sends the first canary one interval after it starts, and a worker needs a moment to run it.
STARTING_SECONDS = CANARY_INTERVAL_SECONDS + 15.0
DEFAULT_MAX_WAIT_SECONDS = 300.0


@dataclass(frozen=True)
class Part:
    """One part of the system: ``ok``, ``warn`` or ``fail``, a short state and why."""

    name: str
    level: str
    state: str
    reason: str = ""


@dataclass(frozen=True)
class SystemHealth:
    """Every part, and the overview they were judged from (None when Redis was unreachable)."""

    parts: list[Part]
    overview: Overview | None = None

    @property
    def level(self) -> str:
        """The worst part's level."""
        return max((part.level for part in self.parts), key=_RANK.__getitem__, default=OK)

    @property
    def attention(self) -> bool:
        """True when some part is not ``ok``."""
        return self.level != OK

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the level, each part, and the overview's numbers."""
        return {
            "level": self.level,
            "attention": self.attention,
            "parts": {
                part.name: {"level": part.level, "state": part.state, "reason": part.reason} for part in self.parts
            },
            **({"overview": self.overview.to_json()} if self.overview is not None else {}),
        }


def system_health(
    client: redis.Redis, settings: Settings, *, queue: str | None = None, now: float | None = None
) -> SystemHealth:
    """Judge Redis, the workers, beat, the queue, the dead letters and the tokens."""
    try:
        overview = gather(client, settings, queue or "relay.events", now=now)
    except redis.RedisError as exc:
        reason = f"unreachable ({type(exc).__name__}: {exc})"
        return SystemHealth([Part("redis", FAIL, "unreachable", reason)])
    return judge(overview, max_wait=_max_wait(settings))


def _max_wait(settings: Settings) -> float:
    return settings.alerts.max_wait_seconds or DEFAULT_MAX_WAIT_SECONDS


def judge(overview: Overview, *, max_wait: float = DEFAULT_MAX_WAIT_SECONDS) -> SystemHealth:
    """The parts' levels from one overview."""
    return SystemHealth(
        [
            Part("redis", OK, "reachable"),
            _workers(overview),
            _beat(overview),
            _queue(overview, max_wait),
            _dead_letters(overview),
            _tokens(overview),
            *([_gitops(overview)] if overview.gitops else []),
        ],
        overview,
    )


def _gitops(overview: Overview) -> Part:
    failed = [row for row in overview.gitops if row.outcome == "failed"]
    drifted = [row for row in overview.gitops if row.drifted]
    if failed:
        names = ", ".join(f"{row.target}/{row.gateway_group}" for row in failed)
        return Part("gitops", WARN, f"{len(failed)} failed", f"last reconcile failed: {names} (relay gitops status)")
    if drifted:
        names = ", ".join(f"{row.target}/{row.gateway_group} ({row.drifted})" for row in drifted)
        return Part("gitops", WARN, f"{len(drifted)} drifted", f"differs from its last applied revision: {names}")
    return Part("gitops", OK, f"{len(overview.gitops)} in sync")


def _starting(overview: Overview) -> bool:
    """Every process online started so recently that no canary was due yet."""
    starts = [process.started_at for process in overview.processes if process.started_at]
    return bool(starts) and len(starts) == len(overview.processes) and overview.now - min(starts) < STARTING_SECONDS


def _workers(overview: Overview) -> Part:
    age = overview.canary_age_seconds
    online = len(overview.processes)
    if age is not None and age < STALE_SECONDS:
        return Part("workers", OK, "consuming", f"canary {age:.0f}s ago, {online} process(es) online")
    if _starting(overview):
        return Part("workers", OK, "starting", f"{online} process(es) online; the first canary is not due yet")
    if not online:
        return Part("workers", FAIL, "none online", "no worker heartbeat (start `relay up` or a worker)")
    seen = "never" if age is None else f"{age:.0f}s ago"
    return Part("workers", FAIL, "not consuming", f"{online} process(es) online, but the canary ran {seen}")


def _beat(overview: Overview) -> Part:
    age = overview.beat_age_seconds
    if age is not None and age < STALE_SECONDS:
        return Part("beat", OK, "alive", f"sent the canary {age:.0f}s ago")
    if _starting(overview) or (age is None and overview.canary_age_seconds is not None):
        # A canary ran but beat's mark is absent: a beat from before the mark existed, or one just started.
        return Part("beat", OK, "starting", "no canary sent yet")
    seen = "never" if age is None else f"{age:.0f}s ago"
    return Part("beat", FAIL, "stopped", f"beat sent the canary {seen} (every {CANARY_INTERVAL_SECONDS:.0f}s)")


def _queue(overview: Overview, max_wait: float) -> Part:
    oldest = overview.oldest_waiting_seconds
    state = f"{overview.waiting} waiting, {overview.in_progress} in progress"
    if oldest is not None and oldest > max_wait:
        return Part("queue", WARN, state, f"the oldest event has waited {oldest:.0f}s (over {max_wait:.0f}s)")
    return Part("queue", OK, state)


def _dead_letters(overview: Overview) -> Part:
    if not overview.dead_letters:
        return Part("dead_letters", OK, "none")
    top = ", ".join(f"{reason} ({count})" for reason, count in overview.top_reasons[:3])
    return Part("dead_letters", WARN, str(overview.dead_letters), f"top reasons: {top} (relay dlq list)")


def _tokens(overview: Overview) -> Part:
    bad = [row for row in overview.tokens if row.status in {"expired", "invalid"}]
    warned = [row for row in overview.tokens if row.status == "warn"]
    if bad:
        return Part("tokens", FAIL, f"{len(bad)} unusable", ", ".join(f"{row.name} {row.status}" for row in bad))
    if warned:
        names = ", ".join(f"{row.name} ({row.days_left} days left)" for row in warned)
        return Part("tokens", WARN, f"{len(warned)} expiring", names)
    return Part("tokens", OK, f"{len(overview.tokens)} ok" if overview.tokens else "none stored")
