"""Celery task messages for the Redis transport, built so the receiver can push them inside its Lua script.

Celery's publisher is synchronous and makes its own round trips; the receiver instead stores the event and
queues its task in one atomic script. The message is the one kombu's Redis transport would ``LPUSH``: Celery
builds the task headers and body (protocol 2); this module only adds kombu's envelope.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import json
import os
import re
import uuid
from typing import Any

import redis
from celery import Celery

from worker import jsontext
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

    Celery builds the headers once, at start-up, and the envelope is rendered to JSON then, with a marker where each
    message's own values go; a message is then its ids, arguments and body spliced into that text. This keeps
    Celery's per-call work (and its ``saferepr``) and most of the JSON encoding off the receiver's hot path.
    """

    def __init__(self, app: Celery, name: str, queue: str) -> None:
        self.name = name
        self.queue = queue
        headers, properties, body, _ = app.amqp.as_task_v2(
            str(uuid.uuid4()), name, args=[], kwargs={}, ignore_result=None
        )
        self._body_tail: list[Any] = list(body[1:])
        message = {
            MESSAGE_BODY: _Slot.BODY,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            MESSAGE_HEADERS: {
                **headers,
                "id": _Slot.TASK_ID,
                "root_id": _Slot.TASK_ID,
                "argsrepr": _Slot.ARGSREPR,
                MESSAGE_VERSION_HEADER: MESSAGE_VERSION,
            },
            MESSAGE_PROPERTIES: {
                **properties,
                "correlation_id": _Slot.TASK_ID,
                "delivery_mode": 2,
                MESSAGE_DELIVERY_INFO: {"exchange": "", "routing_key": queue},  # direct to the queue
                "priority": 0,
                "body_encoding": "base64",
                MESSAGE_DELIVERY_TAG: _Slot.DELIVERY_TAG,
            },
        }
        template = _split(jsontext.dumpb(message))
        # The literal pieces, with a place for each slot's value, and where each slot's value goes.
        self._pieces = [b"" if isinstance(part, _Slot) else part for part in template]
        self._slots = [(n, part) for n, part in enumerate(template) if isinstance(part, _Slot)]

    def encode(self, *args: Any) -> bytes:
        """The JSON envelope of one task message."""
        body = base64.b64encode(jsontext.dumpb([list(args), *self._body_tail]))
        task_id, delivery_tag = _uuid4_pair()
        # A UUID's text is letters, digits and dashes: its JSON string is itself between quotes.
        values = {
            _Slot.BODY: b'"' + body + b'"',
            _Slot.TASK_ID: b'"' + task_id + b'"',
            _Slot.ARGSREPR: jsontext.dumpb(repr(list(args))),
            _Slot.DELIVERY_TAG: b'"' + delivery_tag + b'"',
        }
        pieces = self._pieces.copy()
        for n, slot in self._slots:
            pieces[n] = values[slot]
        return b"".join(pieces)


class _Slot(enum.StrEnum):
    """Markers in the rendered envelope, each replaced by a message's own (JSON-encoded) value."""

    BODY = "<relay:body>"
    TASK_ID = "<relay:task-id>"
    ARGSREPR = "<relay:argsrepr>"
    DELIVERY_TAG = "<relay:delivery-tag>"


_SLOT_PATTERN = re.compile(b'"(' + b"|".join(re.escape(slot.value.encode()) for slot in _Slot) + b')"')


def _split(rendered: bytes) -> list[bytes | _Slot]:
    """The rendered envelope as literal pieces and the slots between them (the JSON string of a marker is itself)."""
    pieces = _SLOT_PATTERN.split(rendered)
    return [_Slot(piece.decode()) if n % 2 else piece for n, piece in enumerate(pieces)]


def _uuid4_pair() -> tuple[bytes, bytes]:
    """Two texts like ``str(uuid.uuid4())`` (random, version 4, RFC 4122 variant), from one read of random bytes."""
    digits = bytearray(os.urandom(32))
    for start in (0, 16):
        digits[start + 6] = (digits[start + 6] & 0x0F) | 0x40
        digits[start + 8] = (digits[start + 8] & 0x3F) | 0x80
    text = digits.hex().encode()
    return _dashed(text[:32]), _dashed(text[32:])


def _dashed(digits: bytes) -> bytes:
    """32 hex digits as a UUID's text: 8-4-4-4-12."""
    return b"%s-%s-%s-%s-%s" % (digits[:8], digits[8:12], digits[12:16], digits[16:20], digits[20:])


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
