"""Worker signal hooks that let Relay see who holds which message (``worker.liveness``: heartbeat, recovery)."""

from __future__ import annotations

import logging
import uuid
import weakref
from typing import Any

import redis
from celery.signals import task_received, worker_process_shutdown, worker_ready, worker_shutdown

from worker.liveness.heartbeat import ensure_heartbeat, stop_heartbeat
from worker.liveness.recovery import record_channel, record_holder
from worker.runtime import get_runtime

log = logging.getLogger("relay.liveness")


@worker_ready.connect
def _start_beating(**_: Any) -> None:
    ensure_heartbeat(get_runtime().redis)


# One name per broker channel this process has consumed from: a reconnect opens a new channel, and the messages
# delivered on the old one can no longer be acknowledged (kombu would give them back only after the visibility
# timeout). Naming the channel in the holder lets the recovery job hand them back at once.
_channels: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _channel_name(channel: Any) -> str:
    if channel is None:
        return "none"
    name = _channels.get(channel)
    if name is None:
        name = _channels[channel] = uuid.uuid4().hex[:12]
    return name


@task_received.connect
def _remember_holder(request: Any = None, **_: Any) -> None:
    message = getattr(request, "message", None)
    tag = getattr(message, "delivery_tag", None)
    if not tag:
        return
    client = get_runtime().redis
    try:
        owner = ensure_heartbeat(client)
        channel = _channel_name(getattr(message, "channel", None))
        record_channel(client, owner, channel)
        record_holder(client, str(tag), f"{owner}#{channel}")
    except redis.RedisError as exc:
        # Not fatal: an entry without a holder is handed back after a grace period if its worker dies.
        log.warning("could not record the holder of message %s (%s)", tag, type(exc).__name__)


@worker_shutdown.connect
@worker_process_shutdown.connect
def _stop_beating(**_: Any) -> None:
    stop_heartbeat()
