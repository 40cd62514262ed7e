"""Helpers the tests share: waiting on a condition, signed deliveries, servers on threads, worker processes.

Fixtures live in ``conftest.py``; what a test imports by name lives here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from worker.events import EventRecord, EventStatus, EventStore
from worker.redis import free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], T | None], *, timeout: float = 20.0, interval: float = 0.05, what: str = "") -> T:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


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


@dataclass
class WorkerProcess:
    """A real ``celery -A worker worker`` subprocess."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything the worker has logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children, as a crash or an OOM kill would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Warm shutdown, then kill if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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
