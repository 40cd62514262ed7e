"""Worker signal hooks that let Relay see who holds which message (``worker.heartbeat``, ``worker.recovery``)."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery.signals import task_received, worker_process_shutdown, worker_ready, worker_shutdown

from worker.heartbeat import ensure_heartbeat, stop_heartbeat
from worker.recovery import record_holder
from worker.runtime import get_runtime

log = logging.getLogger("relay.liveness")


@worker_ready.connect
def _start_beating(**_: Any) -> None:
    ensure_heartbeat(get_runtime().redis)


@task_received.connect
def _remember_holder(request: Any = None, **_: Any) -> None:
    tag = getattr(getattr(request, "message", None), "delivery_tag", None)
    if not tag:
        return
    client = get_runtime().redis
    try:
        record_holder(client, str(tag), ensure_heartbeat(client))
    except redis.RedisError as exc:
        # Not fatal: an entry without a holder is handed back after a grace period if its worker dies.
        log.warning("could not record the holder of message %s (%s)", tag, type(exc).__name__)


@worker_shutdown.connect
@worker_process_shutdown.connect
def _stop_beating(**_: Any) -> None:
    stop_heartbeat()
