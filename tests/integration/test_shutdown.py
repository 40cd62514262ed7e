"""Graceful stops: SIGTERM lets a worker finish the event it runs, and leaves nothing unacknowledged behind."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from tests.support import Sandbox, Server, WorkerProcess, github_delivery, wait_for, wait_for_event
from webhooks.app import create_app
from worker.config import Settings
from worker.store.events import EventStatus, EventStore

pytestmark = pytest.mark.integration


def test_sigterm_lets_the_running_event_finish_then_the_worker_exits(
    write_config: Callable[[dict[str, Any]], Settings],
    redis_url: str,
    redis_client: redis.Redis,
    sandbox: Sandbox,
    serve_app: Callable[[Any], Server],
    start_worker: Callable[..., WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    settings = write_config(
        {
            "sources": {"github": {"kind": "github", "secret": "shutdown-test-secret"}},
            "targets": {"gw": {"kind": "api7", "base_url": sandbox.url, "token_secret": sandbox.token}},
            "rules": [{"name": "slow", "do": [{"call": "gw", "method": "GET", "path": "/api/gateway_groups"}]}],
        }
    )
    receiver = serve_app(create_app(settings, redis_url=redis_url))
    store = EventStore(redis_client, retention_seconds=600)
    worker = start_worker(redis_url)
    sandbox.fault(latency_ms=3000, count=1)

    answer = httpx.post(f"{receiver.url}/hooks/github", **github_delivery({"n": 1}, secret="shutdown-test-secret"))
    event_id = answer.json()["event_id"]
    wait_for(lambda: httpx.get(f"{sandbox.url}/_sandbox/faults").json() == [], what="the call to reach the sandbox")
    worker.process.send_signal(signal.SIGTERM)

    record = wait_for_event(store, event_id, EventStatus.DONE, timeout=20)
    assert record.attempts == 1  # finished by the worker that was asked to stop, not redelivered
    assert worker.process.wait(20) == 0
    assert redis_client.hlen("unacked") == 0
