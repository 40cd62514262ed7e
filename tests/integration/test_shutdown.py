"""Graceful stops: SIGTERM lets a worker finish the event it runs, and leaves nothing unacknowledged behind."""

from __future__ import annotations

import signal
from collections.abc import Callable

import httpx
import pytest
import redis

from tests.integration.support import Stack, rule, stack_config
from tests.support import Sandbox, wait_for, wait_for_event
from worker.store.events import EventStatus, EventStore

pytestmark = pytest.mark.integration


def test_sigterm_lets_the_running_event_finish_then_the_worker_exits(
    stack: Callable[..., Stack], redis_client: redis.Redis, sandbox: Sandbox
) -> None:
    relay = stack(stack_config(sandbox, rule("slow"), secret="shutdown-test-secret"))
    store = EventStore(redis_client, retention_seconds=600)
    [worker] = relay.workers
    sandbox.fault(latency_ms=3000, count=1)

    event_id = relay.deliver({"n": 1})
    wait_for(lambda: httpx.get(f"{sandbox.url}/_sandbox/faults").json() == [], what="the call to reach the sandbox")
    worker.signal(signal.SIGTERM)

    record = wait_for_event(store, event_id, EventStatus.DONE, timeout=20)
    assert record.attempts == 1  # finished by the worker that was asked to stop, not redelivered
    assert worker.wait(20) == 0
    assert redis_client.hlen("unacked") == 0
