"""``relay status`` over a real Redis and a real worker running beat's canary."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from tests.support import wait_for
from worker.celery_app import EVENTS_QUEUE, app
from worker.cli import main
from worker.config import Settings
from worker.devtools.supervise.children import Child
from worker.ops import health
from worker.ops.health import snapshot
from worker.store.events import DLQ_KEY

pytestmark = pytest.mark.integration


def test_status_reports_live_workers_and_flags_dead_letters(
    write_config: Callable[[dict[str, Any]], Settings],
    redis_url: str,
    redis_client: redis.Redis,
    start_worker: Callable[..., Child],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    write_config({})
    start_worker(redis_url)
    with app.connection_for_write(redis_url) as connection:
        app.send_task("relay.canary", queue=EVENTS_QUEUE, connection=connection)
    wait_for(lambda: snapshot(redis_client, EVENTS_QUEUE).workers_alive, what="a worker to run the canary")

    health.beat_sent(redis_client)  # what beat's publish hook writes (no beat runs in this test)
    healthy = CliRunner().invoke(main, ["status", "--json"])

    assert healthy.exit_code == 0, healthy.output
    report = json.loads(healthy.output)
    assert report["parts"]["workers"]["state"] == "consuming"
    assert report["overview"]["processes"], "the worker's heartbeat keys are listed"
    assert (report["overview"]["waiting"], report["overview"]["dead_letters"], report["attention"]) == (0, 0, False)

    redis_client.zadd(DLQ_KEY, {"evt_failed": 1.0})
    flagged = CliRunner().invoke(main, ["status"])

    assert flagged.exit_code == 1
    assert "NEEDS ATTENTION" in flagged.output
    assert "Dead letters (1)" in flagged.output
    assert "consuming" in flagged.output


def test_status_names_the_unreachable_redis_without_a_traceback(
    write_config: Callable[[dict[str, Any]], Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_REDIS_URL", "redis://:hunter2-secret@127.0.0.1:1/0")
    write_config({})

    result = CliRunner().invoke(main, ["status"])

    assert result.exit_code == 1
    assert result.output.startswith("relay: Redis at redis://***@127.0.0.1:1/0 unreachable: ")
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


def test_a_real_beat_is_seen_alive_and_workers_start_then_consume(
    write_config: Callable[[dict[str, Any]], Settings],
    redis_url: str,
    redis_client: redis.Redis,
    start_worker: Callable[..., Child],
    start_beat: Callable[[str], Child],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    write_config({})
    start_worker(redis_url)

    def report() -> dict[str, Any]:
        result = CliRunner().invoke(main, ["status", "--json"])
        data: dict[str, Any] = json.loads(result.output)
        return data

    assert report()["parts"]["workers"]["state"] == "starting"  # not "not consuming" right after start
    start_beat(redis_url)
    parts = wait_for(
        lambda: (p := report()["parts"])["beat"]["state"] == "alive" and p["workers"]["state"] == "consuming" and p,
        timeout=90,
        what="beat's canary to be sent and run",
    )
    assert parts["beat"]["level"] == "ok"
