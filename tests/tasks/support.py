"""Helpers shared by the rule and action tests: saved payloads, a runtime over fakeredis, stored events."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import redis

from worker.config import Settings
from worker.runtime import Runtime
from worker.store.events import EVENT_KEY, EventRecord, event_fields, new_event_id
from worker.targets import ConfigTokens

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"
TOKEN = "system-token-secret-value"
CODING_TOKEN = "coding-token-secret-value"
FEISHU_URL = "https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

Handler = Callable[[httpx.Request], httpx.Response]


@cache
def _payload_text(name: str) -> str:
    return (PAYLOADS / f"{name}.json").read_text(encoding="utf-8")


def load_payload(name: str) -> Any:
    """A fresh copy of a saved payload from ``tests/payloads``."""
    return json.loads(_payload_text(name))


def config_with(rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A configuration with an API7 target ``gw``, a CODING target ``coding``, a Feishu channel ``ops``."""
    return {
        "targets": {
            "gw": {"kind": "api7", "base_url": "http://gw.test", "token_secret": TOKEN},
            "coding": {"kind": "coding", "base_url": "http://coding.test", "token_secret": CODING_TOKEN},
        },
        "channels": {"ops": {"kind": "feishu", "url": FEISHU_URL}},
        "rules": rules,
    }


def settings_with(rules: list[dict[str, Any]], **extra: Any) -> Settings:
    """Settings of ``config_with(rules)``."""
    return Settings(**config_with(rules), **extra)


def make_runtime(client: redis.Redis, settings: Settings, handler: Handler) -> Runtime:
    """A runtime whose every HTTP request (targets and channels) goes to ``handler``."""
    return Runtime(settings, client, ConfigTokens(settings), transport=httpx.MockTransport(handler))


def store_event(
    runtime: Runtime, source: str, event_type: str, payload: Any, headers: dict[str, str] | None = None
) -> str:
    """Store an event record as the receiver would, and return its id."""
    record = record_for(source, event_type, payload, headers)
    record.id = new_event_id()
    runtime.redis.hset(EVENT_KEY + record.id, mapping=event_fields(record))  # type: ignore[arg-type]
    return record.id


def record_for(source: str, event_type: str, payload: Any, headers: dict[str, str] | None = None) -> EventRecord:
    """An event record that is not stored anywhere (for matching)."""
    return EventRecord(
        id="evt_test",
        source=source,
        type=event_type,
        delivery_id="d-1",
        received_at=1715677340.0,
        headers=headers or {},
        payload=payload,
    )


class RoundTrips:
    """Counts the round trips this thread makes to Redis: each write of commands to a connection is one.

    A pipeline or a MULTI/EXEC is sent in one write, a single command in one; the reply is read before the next
    write, so writes and round trips are one to one. Other threads (a heartbeat) are not counted.
    """

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self._thread = threading.get_ident()
        self._original: Callable[..., None] = redis.connection.AbstractConnection.send_packed_command

    def __enter__(self) -> RoundTrips:
        counter = self

        def send(connection: Any, command: Any, check_health: bool = True) -> None:
            if threading.get_ident() == counter._thread:
                parts = [command] if isinstance(command, bytes | str) else list(command)
                counter.sent.append(b"".join(p.encode() if isinstance(p, str) else bytes(p) for p in parts))
            counter._original(connection, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        redis.connection.AbstractConnection.send_packed_command = self._original  # type: ignore[method-assign]

    @property
    def count(self) -> int:
        """Round trips so far."""
        return len(self.sent)

    def commands(self) -> list[str]:
        """The first command of each round trip (``MULTI`` for a transaction), for a failure's message."""
        return [sent.split(b"\r\n")[2].decode() for sent in self.sent]


class Scripted:
    """Answers the API7 call with 200 and the Feishu channel with the next scripted body."""

    def __init__(self, *feishu: dict[str, Any]) -> None:
        self.answers = list(feishu)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and answer it."""
        self.seen.append(request)
        if request.url.host == "open.feishu.cn":
            return httpx.Response(200, json=self.answers.pop(0) if self.answers else {"code": 0, "msg": "success"})
        return httpx.Response(200, json={"value": {}})

    def hosts(self) -> list[str]:
        """The hosts called, in order."""
        return [request.url.host for request in self.seen]


# A merged GitLab merge request's context, as a rule's templates see it.
CONTEXT = {"payload": load_payload("gitlab_merge_request_merged"), "event": {"id": "evt_1"}}
