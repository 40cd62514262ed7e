"""Helpers the tests share: waiting on a condition, signed deliveries, servers on threads, worker commands.

Fixtures live in ``conftest.py``; what a test imports by name lives here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio.from_thread
import httpx
import pytest
import uvicorn

from worker.devtools.supervise.embedded import free_port
from worker.store.events import EventRecord, EventStatus, EventStore
from worker.waiting import poll

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], T | None], *, timeout: float = 20.0, interval: float = 0.05, what: str = "") -> T:
    """Poll ``condition`` (``worker.waiting.poll``) until it returns something truthy; fail the test at ``timeout``."""
    value = poll(condition, timeout=timeout, interval=interval)
    if not value:
        pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
    return value


GITHUB_SECRET = "github-webhook-secret-for-tests"


def github_delivery(
    body: Any, *, event: str = "push", delivery: str | None = None, secret: str = GITHUB_SECRET
) -> dict[str, Any]:
    """``httpx.post`` arguments for a delivery signed as GitHub signs (X-Hub-Signature-256)."""
    raw = json.dumps(body).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {
        "content": raw,
        "headers": {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    }


def wait_for_event(store: EventStore, event_id: str, status: EventStatus, *, timeout: float = 20.0) -> EventRecord:
    """Wait until the event reaches ``status`` and return its record."""

    def reached() -> EventRecord | None:
        record = store.get(event_id)
        return record if record.status == status else None

    return wait_for(reached, timeout=timeout, what=f"event {event_id} to be {status}")


@dataclass
class Server:
    """An ASGI app served by uvicorn on a thread."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for it."""
        self.server.should_exit = True
        self.thread.join(10)


def serve(app: Any) -> Server:
    """Serve ``app`` on a free loopback port and wait until it accepts connections."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="uvicorn to start")
    return Server(f"http://127.0.0.1:{port}", server, thread)


@dataclass
class Sandbox:
    """The API7 admin API sandbox over HTTP, with its bootstrap secret."""

    url: str
    token: str

    def requests(self) -> list[dict[str, Any]]:
        """What the sandbox has recorded."""
        data: list[dict[str, Any]] = httpx.get(f"{self.url}/_sandbox/requests", timeout=5).json()
        return data

    def fault(self, **fault: Any) -> None:
        """Inject a fault."""
        httpx.post(f"{self.url}/_sandbox/faults", json=fault, timeout=5).raise_for_status()

    def group_state(self, group: str = "default") -> dict[str, Any]:
        """A gateway group's whole state (write-only values as sha256 digests)."""
        response = httpx.get(f"{self.url}/_sandbox/gateway_groups/{group}", timeout=5)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    def add_group(self, group_id: str, name: str) -> None:
        """Add a gateway group."""
        body = {"id": group_id, "name": name}
        httpx.post(f"{self.url}/_sandbox/gateway_groups", json=body, timeout=5).raise_for_status()

    def seed(self, kind: str, ident: str, value: dict[str, Any], *, group: str = "default", **extra: str) -> None:
        """Store a resource made outside Relay (`made_by="adc"` labels it as ADC does; `consumer=` for a credential)."""
        body = {"kind": kind, "id": ident, "value": value, **extra}
        url = f"{self.url}/_sandbox/gateway_groups/{group}/resources"
        httpx.post(url, json=body, timeout=5).raise_for_status()


def worker_argv(name: str, *, concurrency: int = 1, pool: str = "prefork") -> list[str]:
    """A real ``celery -A worker worker`` named ``name`` (its node name), as deployed but without gossip or mingle."""
    return [
        sys.executable, "-m", "celery", "-A", "worker", "worker", "--loglevel", "INFO", "--concurrency",
        str(concurrency), "--pool", pool, "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def beat_argv(schedule: Path) -> list[str]:
    """A real ``celery -A worker beat`` keeping its schedule in ``schedule``."""
    return [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO", "-s", str(schedule)]


class SandboxTransport(httpx.BaseTransport):
    """The sandbox mounted as a synchronous httpx transport: the one API7 stand-in for tests that need no server.

    ``httpx.ASGITransport`` is asynchronous; Relay's clients are synchronous, so each request is run on an event
    loop in a background thread (anyio's blocking portal). ``state`` is the sandbox's own, for a test to inspect.
    """

    def __init__(self, token: str, *, clock: Callable[[], float] = time.time, api7_version: str | None = None) -> None:
        from worker.devtools.sandbox.app import build_app
        from worker.devtools.sandbox.state import new_state
        from worker.devtools.sandbox.versions import DEFAULT_VERSION

        self.state = new_state(token, clock, api7_version=api7_version or DEFAULT_VERSION)
        self.token = token
        self._asgi = httpx.ASGITransport(app=build_app(self.state))
        self._portal_context = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_context.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` through the sandbox app."""
        request.read()

        async def answer() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)

        return self._portal.call(answer)

    def admin(self) -> httpx.Client:
        """A client of the sandbox with the bootstrap token (for setting up what a test needs)."""
        return httpx.Client(transport=self, base_url=SANDBOX_URL, headers={"X-API-KEY": self.token})

    def close(self) -> None:
        """Nothing: the sandbox outlives the clients that close it (``stop`` ends it)."""

    def stop(self) -> None:
        """Stop the background event loop."""
        self._portal_context.__exit__(None, None, None)


SANDBOX_URL = "http://sandbox.test"


class FakeClock:
    """The one clock tests move by hand, so expiry and ages need no sleeping."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def rsa_key_pair() -> tuple[str, str]:
    """A fresh RSA key as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM): a GitHub App's key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public
