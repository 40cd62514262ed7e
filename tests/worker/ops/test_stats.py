"""Worker-side metrics: recorded in Redis in one batch, exposed as Prometheus families that add up."""

from __future__ import annotations

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from worker.ops import stats
from worker.store import keyspace


def _samples(client: redis.Redis) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(stats.RedisStatsCollector(client))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.parametrize(
    ("code", "klass"), [(200, "2xx"), (302, "3xx"), (404, "4xx"), (503, "5xx"), (None, "error"), (42, "error")]
)
def test_status_class(code: int | None, klass: str) -> None:
    assert stats.status_class(code) == klass


def test_finished_events_are_counted_by_source_and_status_with_a_cumulative_histogram(fake_redis: redis.Redis) -> None:
    for seconds, status in [(0.05, "done"), (0.3, "done"), (7.0, "failed"), (7200.0, "done")]:
        stats.record_event_finished(fake_redis, "github", status, seconds, now=600.0)

    samples = _samples(fake_redis)

    assert samples[("relay_events_finished_total", (("source", "github"), ("status", "done")))] == 3
    assert samples[("relay_events_finished_total", (("source", "github"), ("status", "failed")))] == 1
    bucket = "relay_event_duration_seconds_bucket"
    assert samples[(bucket, (("le", "0.1"), ("source", "github")))] == 1
    assert samples[(bucket, (("le", "0.5"), ("source", "github")))] == 2
    assert samples[(bucket, (("le", "10.0"), ("source", "github")))] == 3
    assert samples[(bucket, (("le", "3600.0"), ("source", "github")))] == 3
    assert samples[(bucket, (("le", "+Inf"), ("source", "github")))] == 4
    assert samples[("relay_event_duration_seconds_count", (("source", "github"),))] == 4
    assert samples[("relay_event_duration_seconds_sum", (("source", "github"),))] == pytest.approx(7207.35)


def test_calls_notifications_and_tokens_are_counted(fake_redis: redis.Redis) -> None:
    stats.record_call(fake_redis, "api7", "post", "2xx", 0.02)
    stats.record_call(fake_redis, "api7", "POST", "5xx", 2.0)
    stats.record_notification(fake_redis, "ops", "sent")
    stats.record_token(fake_redis, "rotation", "rotated")
    stats.record_token(fake_redis, "warning", "sent")

    samples = _samples(fake_redis)

    calls = "relay_admin_calls_total"
    assert samples[(calls, (("method", "POST"), ("status_class", "2xx"), ("target", "api7")))] == 1
    assert samples[(calls, (("method", "POST"), ("status_class", "5xx"), ("target", "api7")))] == 1
    assert samples[("relay_admin_call_duration_seconds_count", (("target", "api7"),))] == 2
    assert samples[("relay_admin_call_duration_seconds_bucket", (("le", "0.025"), ("target", "api7")))] == 1
    assert samples[("relay_notifications_total", (("channel", "ops"), ("outcome", "sent")))] == 1
    assert samples[("relay_token_rotations_total", (("outcome", "rotated"),))] == 1
    assert samples[("relay_token_warnings_total", (("outcome", "sent"),))] == 1


def test_recording_joins_the_callers_pipeline(fake_redis: redis.Redis) -> None:
    with fake_redis.pipeline(transaction=True) as pipe:
        pipe.set("relay:event:x", "1")
        stats.record_event_finished(pipe, "github", "done", 1.0)
        assert not fake_redis.exists(stats.EVENTS.key)  # nothing sent before the caller's execute
        pipe.execute()

    assert fake_redis.hlen(stats.EVENTS.key) == 1


def test_an_unreachable_redis_neither_fails_the_work_nor_the_scrape() -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)

    stats.record_call(dead, "api7", "GET", "2xx", 0.1)  # logged, not raised

    assert list(stats.RedisStatsCollector(dead).collect()) == []


def test_the_minute_series_counts_finishes_failures_and_depth(fake_redis: redis.Redis) -> None:
    now = 100 * 60 + 30.0
    stats.record_event_finished(fake_redis, "github", "done", 1.0, now=now - 60)
    stats.record_event_finished(fake_redis, "github", "failed", 1.0, now=now)
    stats.record_depth(fake_redis, 7, now=now)
    fake_redis.zadd("relay:events", {"evt_a": int((now - 5) * 1000), "evt_b": int((now - 65) * 1000)})

    rows = stats.series(fake_redis, 3, now=now)

    assert [row.start for row in rows] == [98 * 60, 99 * 60, 100 * 60]
    assert [(row.received, row.finished, row.failed, row.depth) for row in rows] == [
        (0, 0, 0, None), (1, 1, 0, None), (1, 1, 1, 7)
    ]  # fmt: skip
    assert stats.totals(rows) == {"received": 2, "finished": 2, "failed": 1}
    assert 0 < fake_redis.ttl(keyspace.minute_key(100)) <= stats.MINUTE_TTL_SECONDS


@pytest.mark.parametrize(
    ("kind", "sample"),
    [
        ("rotated", ("relay_token_rotations_total", (("outcome", "rotated"),))),
        ("rotation-failed", ("relay_token_rotations_total", (("outcome", "failed"),))),
        ("warning", ("relay_token_warnings_total", (("outcome", "sent"),))),
    ],
)
def test_token_audit_entries_are_counted(
    fake_redis: redis.Redis, kind: str, sample: tuple[str, tuple[tuple[str, str], ...]]
) -> None:
    from worker.tokens.store import TokenStore

    store = TokenStore(fake_redis, lambda: pytest.fail("no cipher needed to audit"))
    store.audit("gw-token", kind, "a message")
    store.audit("gw-token", "added", "not counted")

    samples = _samples(fake_redis)

    assert samples[sample] == 1
    assert sum(value for (name, _), value in samples.items() if name.startswith("relay_token")) == 1
