"""Worker-side metrics kept in Redis, so one scrape of the receiver's ``/metrics`` sees every worker process.

Keys (all hashes under ``relay:stats:``; a field is the JSON list of its label values, histograms add a suffix):

    relay:stats:events               ["source", "status"] -> events finished
    relay:stats:event_seconds        ["source", "b", "<le>"] / ["source", "sum"] / ["source", "count"]
    relay:stats:calls                ["target", "method", "status_class"] -> admin API calls
    relay:stats:call_seconds         ["target", "b", "<le>"] / ... (per-bucket counts, summed at scrape time)
    relay:stats:notifications        ["channel", "outcome"]
    relay:stats:token_rotations      ["outcome"]
    relay:stats:token_warnings       ["outcome"]
    relay:stats:minute:<minute>      finished / failed / depth for one minute (expires after two hours)

Recording is one pipelined batch of HINCRBY/HINCRBYFLOAT, joined to the caller's pipeline when it passes one. A
histogram bucket counts only the observations that fall in it; the collector makes them cumulative.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from worker.store.keyspace import INDEX_KEY, STATS_KEY, minute_key

log = logging.getLogger("relay.stats")

PREFIX = STATS_KEY
MINUTE_TTL_SECONDS = 2 * 3600
EVENT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, math.inf)
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, math.inf)

Target = redis.Redis | redis.client.Pipeline


@dataclass(frozen=True)
class Family:
    """One metric kept in one hash: its Prometheus name, help, label names and, for a histogram, buckets."""

    key: str
    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


EVENTS = Family(PREFIX + "events", "relay_events_finished", "Events finished, by final status", ("source", "status"))
EVENT_SECONDS = Family(
    PREFIX + "event_seconds", "relay_event_duration_seconds", "Seconds from receipt to finish", ("source",),
    EVENT_BUCKETS,
)  # fmt: skip
CALLS = Family(
    PREFIX + "calls", "relay_admin_calls", "Admin API calls, by status class", ("target", "method", "status_class")
)
CALL_SECONDS = Family(
    PREFIX + "call_seconds", "relay_admin_call_duration_seconds", "Admin API call duration", ("target",), CALL_BUCKETS
)
NOTIFICATIONS = Family(
    PREFIX + "notifications", "relay_notifications", "Notifications sent, by outcome", ("channel", "outcome")
)
TOKEN_ROTATIONS = Family(PREFIX + "token_rotations", "relay_token_rotations", "Token rotations", ("outcome",))
TOKEN_WARNINGS = Family(PREFIX + "token_warnings", "relay_token_warnings", "Token expiry warnings", ("outcome",))
COMMIT_STATUSES = Family(
    PREFIX + "commit_statuses", "relay_commit_statuses", "Commit statuses reported to forges, by outcome",
    ("repo", "outcome"),
)  # fmt: skip
GITOPS_RECONCILES = Family(
    PREFIX + "gitops_reconciles", "relay_gitops_reconciles", "GitOps reconciles, by outcome",
    ("target", "gateway_group", "outcome"),
)  # fmt: skip
GITOPS_CHANGES = Family(
    PREFIX + "gitops_changes", "relay_gitops_resources_changed", "Resources written by GitOps reconciles, by operation",
    ("target", "gateway_group", "op"),
)  # fmt: skip
GITOPS_DRIFT = Family(
    PREFIX + "gitops_drift", "relay_gitops_drift_checks", "GitOps drift checks, by result (in_sync, drifted, error)",
    ("target", "gateway_group", "result"),
)  # fmt: skip
FAMILIES = (
    EVENTS, EVENT_SECONDS, CALLS, CALL_SECONDS, NOTIFICATIONS, TOKEN_ROTATIONS, TOKEN_WARNINGS,
    COMMIT_STATUSES, GITOPS_RECONCILES, GITOPS_CHANGES, GITOPS_DRIFT,
)  # fmt: skip


def status_class(status_code: int | None) -> str:
    """``2xx`` .. ``5xx`` for an HTTP status, ``error`` when there was no answer."""
    if status_code is None or not 100 <= status_code <= 599:
        return "error"
    return f"{status_code // 100}xx"


def record_event_finished(
    target: Target, source: str, status: str, seconds: float, *, now: float | None = None
) -> None:
    """Count one finished event (``done``/``failed``/``skipped``) and its time from receipt to finish."""
    with _batch(target) as pipe:
        pipe.hincrby(EVENTS.key, _field(source, status), 1)
        _observe(pipe, EVENT_SECONDS, (source,), seconds)
        minute = _minute_key(now)
        pipe.hincrby(minute, "finished", 1)
        if status == "failed":
            pipe.hincrby(minute, "failed", 1)
        pipe.expire(minute, MINUTE_TTL_SECONDS)


def record_call(target: Target, name: str, method: str, klass: str, seconds: float) -> None:
    """Count one admin API call to target ``name`` and its duration."""
    with _batch(target) as pipe:
        pipe.hincrby(CALLS.key, _field(name, method.upper(), klass), 1)
        _observe(pipe, CALL_SECONDS, (name,), seconds)


def record_notification(target: Target, channel: str, outcome: str) -> None:
    """Count one notification to ``channel`` (``sent``, ``failed``, ...)."""
    with _batch(target) as pipe:
        pipe.hincrby(NOTIFICATIONS.key, _field(channel, outcome), 1)


def record_token(target: Target, kind: str, outcome: str) -> None:
    """Count one token ``rotation`` or ``warning`` by its outcome."""
    family = {"rotation": TOKEN_ROTATIONS, "warning": TOKEN_WARNINGS}[kind]
    with _batch(target) as pipe:
        pipe.hincrby(family.key, _field(outcome), 1)


def record_commit_status(target: Target, repo: str, outcome: str) -> None:
    """Count one commit status for ``repo`` (``sent``, ``failed``, ``unsupported``)."""
    with _batch(target) as pipe:
        pipe.hincrby(COMMIT_STATUSES.key, _field(repo, outcome), 1)


def record_reconcile(target: Target, name: str, group: str, outcome: str, changed: dict[str, int]) -> None:
    """Count one reconcile of a gateway group by its outcome, and the resources it created, updated, deleted."""
    with _batch(target) as pipe:
        pipe.hincrby(GITOPS_RECONCILES.key, _field(name, group, outcome), 1)
        for op, count in changed.items():
            if count:
                pipe.hincrby(GITOPS_CHANGES.key, _field(name, group, op), count)


def record_drift(target: Target, name: str, group: str, result: str) -> None:
    """Count one drift check of a gateway group (``in_sync``, ``drifted``, ``error``)."""
    with _batch(target) as pipe:
        pipe.hincrby(GITOPS_DRIFT.key, _field(name, group, result), 1)


def record_depth(target: Target, depth: int, *, now: float | None = None) -> None:
    """Remember the queue depth for this minute (the status page charts it)."""
    with _batch(target) as pipe:
        key = _minute_key(now)
        pipe.hset(key, "depth", depth)
        pipe.expire(key, MINUTE_TTL_SECONDS)


@contextlib.contextmanager
def _batch(target: Target) -> Iterator[redis.client.Pipeline]:
    """The caller's pipeline, or a new one sent on exit; metrics never fail the work they count."""
    if isinstance(target, redis.client.Pipeline):
        yield target
        return
    with target.pipeline(transaction=False) as pipe:
        yield pipe
        try:
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("metrics not recorded (%s)", type(exc).__name__)


def _field(*labels: str) -> str:
    return json.dumps(list(labels), separators=(",", ":"))


def _observe(pipe: redis.client.Pipeline, family: Family, labels: tuple[str, ...], seconds: float) -> None:
    value = max(0.0, seconds)
    bucket = family.buckets[bisect.bisect_left(family.buckets, value)]
    pipe.hincrby(family.key, _field(*labels, "b", _le(bucket)), 1)
    pipe.hincrbyfloat(family.key, _field(*labels, "sum"), value)
    pipe.hincrby(family.key, _field(*labels, "count"), 1)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


def _minute_key(now: float | None) -> str:
    return minute_key(int((time.time() if now is None else now) // 60))


def read_families(client: redis.Redis) -> list[Metric]:
    """Every worker-side metric as Prometheus families (one round trip)."""
    with client.pipeline(transaction=False) as pipe:
        for family in FAMILIES:
            pipe.hgetall(family.key)
        hashes = pipe.execute()
    return [_to_metric(family, _decode(raw)) for family, raw in zip(FAMILIES, hashes, strict=True)]


def _decode(raw: dict[bytes, bytes]) -> list[tuple[list[str], float]]:
    rows = []
    for key, value in raw.items():
        with contextlib.suppress(ValueError, TypeError):
            rows.append(([str(part) for part in json.loads(key)], float(value)))
    return rows


def _to_metric(family: Family, rows: list[tuple[list[str], float]]) -> Metric:
    if not family.buckets:
        counter = CounterMetricFamily(family.name, family.help, labels=family.labels)
        for labels, value in sorted(rows):
            counter.add_metric(labels, value)
        return counter
    histogram = HistogramMetricFamily(family.name, family.help, labels=family.labels)
    for names, data in sorted(_histograms(family, rows).items()):
        cumulative, buckets = 0.0, []
        for bound in family.buckets:
            cumulative += data.get(_le(bound), 0.0)
            buckets.append((_le(bound), cumulative))
        histogram.add_metric(list(names), buckets, data.get("sum", 0.0))
    return histogram


def _histograms(family: Family, rows: Iterable[tuple[list[str], float]]) -> dict[tuple[str, ...], dict[str, float]]:
    """Rows grouped by their labels: ``{le: count}`` plus ``sum`` (``count`` is the +Inf bucket)."""
    width = len(family.labels)
    grouped: dict[tuple[str, ...], dict[str, float]] = {}
    for parts, value in rows:
        labels, rest = tuple(parts[:width]), parts[width:]
        data = grouped.setdefault(labels, {})
        if rest[:1] == ["b"] and len(rest) == 2:
            data[rest[1]] = data.get(rest[1], 0.0) + value
        elif rest == ["sum"]:
            data["sum"] = value
    return grouped


class RedisStatsCollector(Collector):
    """A prometheus_client collector reading the worker-side metrics from Redis at scrape time."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not read Redis."""
        return []

    def collect(self) -> Iterable[Metric]:
        """The families, or none when Redis is unreachable (the scrape still answers)."""
        try:
            return read_families(self.client)
        except redis.RedisError as exc:
            log.warning("worker metrics unavailable (%s)", type(exc).__name__)
            return []


@dataclass(frozen=True)
class Minute:
    """One minute of the status page's history."""

    start: int  # Unix seconds
    received: int
    finished: int
    failed: int
    depth: int | None


def series(client: redis.Redis, minutes: int = 60, *, now: float | None = None) -> list[Minute]:
    """The last ``minutes`` minutes, oldest first; received counts come from the event index."""
    current = int((time.time() if now is None else now) // 60)
    starts = [current - offset for offset in range(minutes - 1, -1, -1)]
    with client.pipeline(transaction=False) as pipe:
        for minute in starts:
            pipe.hgetall(minute_key(minute))
            pipe.zcount(INDEX_KEY, minute * 60_000, minute * 60_000 + 59_999)
        replies = pipe.execute()
    return [_minute(minute, replies[2 * i], replies[2 * i + 1]) for i, minute in enumerate(starts)]


def _minute(minute: int, fields: dict[bytes, bytes], received: int) -> Minute:
    def number(name: str) -> int:
        return int(float(fields.get(name.encode(), 0)))

    depth = fields.get(b"depth")
    return Minute(
        minute * 60, int(received), number("finished"), number("failed"), None if depth is None else number("depth")
    )


def totals(rows: Sequence[Minute]) -> dict[str, Any]:
    """Sums over ``rows`` (the throughput of a window)."""
    return {
        "received": sum(row.received for row in rows),
        "finished": sum(row.finished for row in rows),
        "failed": sum(row.failed for row in rows),
    }
