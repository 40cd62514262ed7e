"""Helpers for the integration stack: its configuration and the running parts a test talks to.

The ``stack`` fixture (tests/integration/conftest.py) builds a :class:`Stack` from these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from tests.support import GITHUB_SECRET, Sandbox, Server, github_delivery
from worker.config import Settings
from worker.devtools.supervise.children import Child

GROUPS = "/api/gateway_groups"


def call(path: str = GROUPS, method: str = "GET", **request: Any) -> dict[str, Any]:
    """An action calling target ``gw``."""
    return {"call": "gw", "method": method, "path": path, **request}


def rule(name: str, *actions: dict[str, Any], event: str | None = None) -> dict[str, Any]:
    """A rule doing ``actions`` on GitHub ``event`` (any event of any source when None)."""
    found = {"on": {"source": "github", "event": event}} if event else {}
    return {"name": name, **found, "do": list(actions or [call()])}


def stack_config(
    sandbox: Sandbox,
    *rules: dict[str, Any],
    secret: str = GITHUB_SECRET,
    target: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A relay.yaml: source ``github`` signed with ``secret``, target ``gw`` (API7) at the sandbox, ``rules``.

    ``target`` adds to gw's settings (timeouts, a stored ``token`` instead of the bootstrap secret); ``extra`` adds
    top-level keys (``celery``, ``channels``, ``tokens``, ``redis_url``). Without rules: one that lists the
    gateway groups on every event.
    """
    gw = {"kind": "api7", "base_url": sandbox.url, "token_secret": sandbox.token, **(target or {})}
    if "token" in gw:
        del gw["token_secret"]
    return {
        "sources": {"github": {"kind": "github", "secret": secret}},
        "targets": {"gw": gw},
        "rules": list(rules) or [rule("list-groups")],
        **extra,
    }


@dataclass
class Stack:
    """Relay on real parts: Redis, the sandbox over HTTP, Celery workers (and beat) as processes, receivers."""

    settings: Settings
    redis_url: str
    sandbox: Sandbox
    receivers: list[Server]
    workers: list[Child] = field(default_factory=list)
    beat: Child | None = None
    secret: str = GITHUB_SECRET

    @property
    def receiver(self) -> Server:
        """The first receiver."""
        return self.receivers[0]

    def post(self, body: Any = None, *, event: str = "push", receiver: int = 0, **delivery: Any) -> httpx.Response:
        """Post a GitHub delivery of ``event`` signed with the stack's secret to a receiver."""
        signed = github_delivery({} if body is None else body, event=event, secret=self.secret, **delivery)
        return httpx.post(f"{self.receivers[receiver].url}/hooks/github", **signed, timeout=10)

    def deliver(self, body: Any = None, *, event: str = "push") -> str:
        """Post a delivery that must be accepted; its event id."""
        answer = self.post(body, event=event)
        assert answer.status_code == 202, answer.text
        event_id: str = answer.json()["event_id"]
        return event_id


def redis_dump(client: redis.Redis) -> bytes:
    """Every key and every value in the database, as bytes."""
    readers: dict[bytes, Callable[[bytes], Any]] = {
        b"string": lambda key: [client.get(key)],
        b"hash": lambda key: [part for pair in client.hgetall(key).items() for part in pair],
        b"list": lambda key: client.lrange(key, 0, -1),
        b"set": lambda key: client.smembers(key),
        b"zset": lambda key: client.zrange(key, 0, -1),
    }
    out: list[bytes] = []
    for key in client.scan_iter(count=1000):
        out.append(key)
        kind: Any = client.type(key)
        assert kind in readers, f"{key!r} is a {kind!r}: read it too"
        out.extend(value for value in readers[kind](key) if isinstance(value, bytes))
    return b"\n".join(out)
