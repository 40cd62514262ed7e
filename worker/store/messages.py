"""Celery task messages for the Redis transport, built so the receiver can push them inside its Lua script.

Celery's publisher is synchronous and makes its own round trips; the receiver instead stores the event and
queues its task in one atomic script. The message is the one kombu's Redis transport would ``LPUSH``: Celery
builds the task headers and body (protocol 2); this module only adds kombu's envelope.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import uuid
from typing import Any

import redis
from celery import Celery

from worker.store.keyspace import (
    MESSAGE_BODY,
    MESSAGE_DELIVERY_INFO,
    MESSAGE_DELIVERY_TAG,
    MESSAGE_HEADERS,
    MESSAGE_PROPERTIES,
    MESSAGE_TASK,
    UNACKED_KEY,
    queue_keys,
)

__all__ = ["UNACKED_KEY", "TaskMessageEncoder", "live_task_arguments", "queue_keys"]  # the kombu facts: keyspace

# Relay's own message format version, beside Celery's protocol 2: a message without it is version 1 (every message
# Relay wrote before the header existed). Bumped, with a CHANGELOG line, when the task's name or arguments change.
MESSAGE_VERSION_HEADER = "relay_message_version"
MESSAGE_VERSION = 1


class TaskMessageEncoder:
    """Encodes ``name(*args)`` as a message for ``queue``, ready to ``LPUSH`` onto the queue's list.

    Celery builds the headers once, at start-up; each message then only gets its own ids and arguments, which
    keeps Celery's per-call work (and its ``saferepr``) off the receiver's hot path.
    """

    def __init__(self, app: Celery, name: str, queue: str) -> None:
        self.name = name
        self.queue = queue
        headers, properties, body, _ = app.amqp.as_task_v2(
            str(uuid.uuid4()), name, args=[], kwargs={}, ignore_result=None
        )
        self._headers: dict[str, Any] = headers
        self._properties: dict[str, Any] = properties
        self._body_tail: list[Any] = list(body[1:])

    def encode(self, *args: Any) -> bytes:
        """The JSON envelope of one task message."""
        task_id = str(uuid.uuid4())
        body = json.dumps([list(args), *self._body_tail]).encode()
        message = {
            MESSAGE_BODY: base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            MESSAGE_HEADERS: {
                **self._headers,
                "id": task_id,
                "root_id": task_id,
                "argsrepr": repr(list(args)),
                MESSAGE_VERSION_HEADER: MESSAGE_VERSION,
            },
            MESSAGE_PROPERTIES: {
                **self._properties,
                "correlation_id": task_id,
                "delivery_mode": 2,
                MESSAGE_DELIVERY_INFO: {"exchange": "", "routing_key": self.queue},  # direct to the queue
                "priority": 0,
                "body_encoding": "base64",
                MESSAGE_DELIVERY_TAG: str(uuid.uuid4()),
            },
        }
        return json.dumps(message).encode()


def live_task_arguments(client: redis.Redis, queue: str, task_name: str) -> set[str]:
    """First argument of every ``task_name`` message that is queued or delivered-but-unacked (ETA retries too)."""
    found: set[str] = set()
    raw_messages: list[bytes] = list(client.lrange(queue, 0, -1))  # type: ignore[arg-type]
    for entry in client.hvals(UNACKED_KEY):
        # Each unacked entry is [message, exchange, routing_key].
        with contextlib.suppress(ValueError, TypeError, IndexError):
            raw_messages.append(json.dumps(json.loads(entry)[0]).encode())
    for raw in raw_messages:
        with contextlib.suppress(ValueError, TypeError, KeyError, IndexError, binascii.Error):
            message = json.loads(raw)
            if message[MESSAGE_HEADERS].get(MESSAGE_TASK) != task_name:
                continue
            args = json.loads(base64.b64decode(message[MESSAGE_BODY]))[0]
            if args:
                found.add(str(args[0]))
    return found
