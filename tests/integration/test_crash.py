"""A worker killed mid-task loses nothing: late acks leave the message unacknowledged, and it comes back.

Within seconds when beat runs the recovery job (the dead worker's heartbeat stops), else after the visibility timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import redis

from tests.integration.support import Stack, rule, stack_config
from tests.support import Sandbox, wait_for, wait_for_event
from worker.devtools.supervise.children import Child
from worker.store.events import EventStatus, EventStore

pytestmark = pytest.mark.integration

SECRET = "crash-test-secret"
VISIBILITY_TIMEOUT = 30  # the smallest the settings allow; kombu re-delivers unacked messages older than this


def test_an_event_whose_worker_is_killed_mid_call_is_done_by_another_worker(
    stack: Callable[..., Stack],
    redis_url: str,
    redis_client: redis.Redis,
    sandbox: Sandbox,
    start_worker: Callable[..., Child],
) -> None:
    celery = {"visibility_timeout": VISIBILITY_TIMEOUT, "task_time_limit": 15, "retry_backoff_max": 10}
    target = {"connect_timeout": 1, "read_timeout": 5}
    relay = stack(stack_config(sandbox, rule("slow"), secret=SECRET, target=target, celery=celery))
    store = EventStore(redis_client, retention_seconds=600)
    [doomed] = relay.workers
    sandbox.fault(latency_ms=60_000, count=1)  # holds the first call until the worker is gone

    event_id = relay.deliver({"n": 1})
    # The fault is used up once the call has reached the sandbox: the worker now waits on it, holding the message.
    wait_for(lambda: httpx.get(f"{sandbox.url}/_sandbox/faults").json() == [], what="the call to reach the sandbox")
    doomed.kill()
    assert redis_client.hlen("unacked") == 1  # the message was not acknowledged: it is not lost

    start_worker(redis_url)

    record = wait_for_event(store, event_id, EventStatus.DONE, timeout=VISIBILITY_TIMEOUT + 40)
    assert record.attempts == 2
    assert [(a.ok, a.status_code) for a in record.actions] == [(True, 200)]


def test_a_killed_workers_event_resumes_within_a_minute_under_the_default_visibility_timeout(
    stack: Callable[..., Stack],
    redis_url: str,
    redis_client: redis.Redis,
    sandbox: Sandbox,
    start_worker: Callable[..., Child],
    start_beat: Callable[[str], Child],
) -> None:
    relay = stack(stack_config(sandbox, rule("slow"), secret=SECRET), concurrency=2)
    assert relay.settings.celery.visibility_timeout == 3600  # kombu alone would hand the message back in an hour
    store = EventStore(redis_client, retention_seconds=600)
    [doomed] = relay.workers
    sandbox.fault(latency_ms=60_000, count=1)

    event_id = relay.deliver({"n": 1})
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
