"""Connections: one pooled client per target per process, made after fork and closed on worker shutdown."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from worker.config import Settings
from worker.runtime import close_runtime, get_runtime


@pytest.fixture
def configured(write_config: Callable[[dict[str, Any]], Settings]) -> Iterator[Settings]:
    """Settings with two targets; the Redis client is lazy, so no server is needed."""
    settings = write_config(
        {
            "redis_url": "redis://127.0.0.1:1/0",
            "targets": {
                "gw": {"kind": "api7", "base_url": "http://gw.test", "token_secret": "s1-secret-value"},
                "coding": {"kind": "coding", "base_url": "http://coding.test", "token_secret": "s2-secret-value"},
            },
        }
    )
    close_runtime()
    yield settings
    close_runtime()


def test_one_client_per_target_per_process(configured: Settings) -> None:
    runtime = get_runtime()

    assert get_runtime() is runtime
    assert runtime.client("gw") is runtime.client("gw")
    assert runtime.client("gw") is not runtime.client("coding")
    assert runtime.client("gw").config.kind == "api7"


def test_a_forked_child_builds_its_own_runtime_and_clients(configured: Settings) -> None:
    parent = get_runtime()
    parent_client = parent.client("gw")
    read_end, write_end = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        try:
            child = get_runtime()
            report = {
                "new_runtime": child is not parent,
                "new_client": child.client("gw") is not parent_client,
                "new_redis": child.redis is not parent.redis,
                # The parent's pool is left alone: closing it here could disturb the parent's connections.
                "parent_client_open": not parent_client.closed,
                "same_in_child": get_runtime() is child,
            }
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(pipe.read() or b"{}")
    os.waitpid(pid, 0)

    assert report == {
        "new_runtime": True,
        "new_client": True,
        "new_redis": True,
        "parent_client_open": True,
        "same_in_child": True,
    }
    assert get_runtime() is parent  # the parent keeps its own


def test_close_runtime_closes_every_pool(configured: Settings) -> None:
    runtime = get_runtime()
    clients = [runtime.client("gw"), runtime.client("coding")]

    close_runtime()

    assert all(client.closed for client in clients)
    assert get_runtime() is not runtime


def test_worker_process_shutdown_closes_the_pools(configured: Settings) -> None:
    from celery.signals import worker_process_shutdown

    import tasks.process  # noqa: F401 (connects the signal handler)

    client = get_runtime().client("gw")

    worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)

    assert client.closed
