"""The yardstick: a plain Celery task making the same admin API call, with Relay's worker settings and broker.

``celery -A worker.devtools.bench.plain worker`` serves it. The broker is ``RELAY_REDIS_URL``; the admin API's key comes
from ``RELAY_BENCH_PLAIN_TOKEN`` in the worker's environment, never from a message.
"""

from __future__ import annotations

import os
from functools import cache

import httpx
from celery import Celery

from worker.celery_app import celery_config
from worker.config import Settings

QUEUE = "relay-bench-plain"
TASK = "relay.bench.plain_call"
TOKEN_ENV = "RELAY_BENCH_PLAIN_TOKEN"  # noqa: S105 (a variable name)


def make_app(redis_url: str) -> Celery:
    """The plain app on ``redis_url``: Relay's Celery settings, its own queue, no periodic jobs."""
    config = celery_config(Settings(), redis_url=redis_url)
    plain = Celery("relay-bench-plain", set_as_current=False)
    plain.config_from_object({**config, "task_default_queue": QUEUE, "beat_schedule": {}})
    return plain


app = make_app(os.environ.get("RELAY_REDIS_URL", "redis://127.0.0.1:6379/0"))


@cache
def _client() -> httpx.Client:
    # One client per pool process: keep-alive connections, as any long-running worker would hold.
    return httpx.Client(timeout=10, headers={"X-API-KEY": os.environ.get(TOKEN_ENV, "")})


@app.task(name=TASK, acks_late=True)  # type: ignore[untyped-decorator]
def plain_call(url: str, key: str) -> int:
    """GET ``url`` with an Idempotency-Key; raise on a non-2xx answer."""
    response = _client().get(url, headers={"Idempotency-Key": key})
    response.raise_for_status()
    return response.status_code
