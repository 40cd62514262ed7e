"""``relay status`` over a real Redis and a real worker running beat's canary."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from tests.support import WorkerProcess, wait_for
from worker.celery_app import EVENTS_QUEUE, app
from worker.cli import main
from worker.events import DLQ_KEY
from worker.health import snapshot
from worker.settings import Settings

pytestmark = pytest.mark.integration


def test_status_reports_live_workers_and_flags_dead_letters(
    write_config: Callable[[dict[str, Any]], Settings],
    redis_url: str,
    redis_client: redis.Redis,
    start_worker: Callable[..., WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    write_config({})
    start_worker(redis_url)
    with app.connection_for_write(redis_url) as connection:
        app.send_task("relay.canary", queue=EVENTS_QUEUE, connection=connection)
    wait_for(lambda: snapshot(redis_client, EVENTS_QUEUE).workers_alive, what="a worker to run the canary")

    healthy = CliRunner().invoke(main, ["status", "--json"])

    assert healthy.exit_code == 0, healthy.output
    report = json.loads(healthy.output)
    assert report["workers_alive"] is True
    assert (report["queue_ready"], report["dead_letters"], report["attention"]) == (0, 0, False)

    redis_client.zadd(DLQ_KEY, {"evt_failed": 1.0})
    flagged = CliRunner().invoke(main, ["status"])

    assert flagged.exit_code == 1
    assert "dead letters  1  (relay dlq list)" in flagged.output
    assert "alive" in flagged.output
