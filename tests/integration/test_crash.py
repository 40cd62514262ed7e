"""A worker killed mid-task loses nothing: late acks leave the message unacknowledged, and it comes back.

Within seconds when beat runs the recovery job (the dead worker's heartbeat stops), else after the visibility timeout.
"""

from __future__ import annotations

import time
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

VISIBILITY_TIMEOUT = 30  # the smallest the settings allow; kombu re-delivers unacked messages older than this


def test_an_event_whose_worker_is_killed_mid_call_is_done_by_another_worker(
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
            "sources": {"github": {"kind": "github", "secret": "crash-test-secret"}},
            "targets": {
                "gw": {
                    "kind": "api7",
                    "base_url": sandbox.url,
                    "token_secret": sandbox.token,
                    "connect_timeout": 1,
                    "read_timeout": 5,
                }
            },
            "rules": [{"name": "slow", "do": [{"call": "gw", "method": "GET", "path": "/api/gateway_groups"}]}],
            "celery": {"visibility_timeout": VISIBILITY_TIMEOUT, "task_time_limit": 15, "retry_backoff_max": 10},
        }
    )
    receiver = serve_app(create_app(settings, redis_url=redis_url))
    store = EventStore(redis_client, retention_seconds=600)
    doomed = start_worker(redis_url)
    sandbox.fault(latency_ms=60_000, count=1)  # holds the first call until the worker is gone

    answer = httpx.post(f"{receiver.url}/hooks/github", **github_delivery({"n": 1}, secret="crash-test-secret"))
    assert answer.status_code == 202
    event_id = answer.json()["event_id"]
    # The fault is used up once the call has reached the sandbox: the worker now waits on it, holding the message.
    wait_for(lambda: httpx.get(f"{sandbox.url}/_sandbox/faults").json() == [], what="the call to reach the sandbox")
    doomed.kill()
    assert redis_client.hlen("unacked") == 1  # the message was not acknowledged: it is not lost

    start_worker(redis_url)

    record = wait_for_event(store, event_id, EventStatus.DONE, timeout=VISIBILITY_TIMEOUT + 40)
    assert record.attempts == 2
    assert [(a.ok, a.status_code) for a in record.actions] == [(True, 200)]


def test_a_killed_workers_event_resumes_within_a_minute_under_the_default_visibility_timeout(
    write_config: Callable[[dict[str, Any]], Settings],
    redis_url: str,
    redis_client: redis.Redis,
    sandbox: Sandbox,
    serve_app: Callable[[Any], Server],
    start_worker: Callable[..., WorkerProcess],
    start_beat: Callable[[str], WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    settings = write_config(
        {
            "sources": {"github": {"kind": "github", "secret": "crash-test-secret"}},
            "targets": {"gw": {"kind": "api7", "base_url": sandbox.url, "token_secret": sandbox.token}},
            "rules": [{"name": "slow", "do": [{"call": "gw", "method": "GET", "path": "/api/gateway_groups"}]}],
        }
    )
    assert settings.celery.visibility_timeout == 3600  # kombu alone would hand the message back in an hour
    receiver = serve_app(create_app(settings, redis_url=redis_url))
    store = EventStore(redis_client, retention_seconds=600)
    doomed = start_worker(redis_url, concurrency=2)
    sandbox.fault(latency_ms=60_000, count=1)

    answer = httpx.post(f"{receiver.url}/hooks/github", **github_delivery({"n": 1}, secret="crash-test-secret"))
    event_id = answer.json()["event_id"]
    wait_for(lambda: httpx.get(f"{sandbox.url}/_sandbox/faults").json() == [], what="the call to reach the sandbox")
    wait_for(lambda: redis_client.hlen("relay:holders") == 1, what="the worker to say it holds the message")
    doomed.kill()
    killed_at = time.monotonic()

    start_worker(redis_url)
    start_beat(redis_url)

    record = wait_for_event(store, event_id, EventStatus.DONE, timeout=60)
    assert time.monotonic() - killed_at < 60
    assert record.attempts == 2
    assert redis_client.hlen("unacked") == 0
