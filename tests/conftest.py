"""Shared fixtures: real Redis (embedded, or RELAY_TEST_REDIS_URL), servers on threads, a real Celery worker."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import fakeredis
import httpx
import pytest
import redis
import uvicorn
import yaml

from worker.events import EventRecord, EventStatus, EventStore
from worker.redis import EmbeddedRedis, free_port
from worker.settings import Settings, get_settings, load_settings

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


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No RELAY_* variable or ./relay.yaml of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith("RELAY_") and name != "RELAY_TEST_REDIS_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fake_redis() -> Iterator[redis.Redis]:
    """An in-memory Redis for unit tests."""
    client = fakeredis.FakeRedis()
    yield client
    client.flushall()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server for the session: RELAY_TEST_REDIS_URL if set, else an embedded one."""
    url = os.environ.get("RELAY_TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The real Redis server, emptied before each test."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    yield redis_server
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the real, emptied Redis server."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, Any]], Settings]]:
    """Write a relay.yaml, point RELAY_CONFIG at it and return the loaded settings."""

    def write(data: dict[str, Any]) -> Settings:
        path = tmp_path / "relay.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        monkeypatch.setenv("RELAY_CONFIG", str(path))
        get_settings.cache_clear()
        return load_settings()

    yield write
    get_settings.cache_clear()


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


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], Server]]:
    """Serve ASGI apps over real HTTP for the test; stopped at its end."""
    servers: list[Server] = []

    def start(app: Any) -> Server:
        servers.append(serve(app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


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


@pytest.fixture
def sandbox(serve_app: Callable[[Any], Server]) -> Sandbox:
    """A sandbox on a free port."""
    from worker.sandbox import create_app

    token = "sandbox-bootstrap-secret-0123456789"
    return Sandbox(serve_app(create_app(token)).url, token)


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


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real Celery workers with the current RELAY_CONFIG and the given Redis URL."""
    workers: list[WorkerProcess] = []

    def start(redis_url: str, *, concurrency: int = 1, pool: str = "prefork", **env: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(workers)}.log"
        environment = {**os.environ, "RELAY_REDIS_URL": redis_url, **env}
        with log.open("wb") as out:
            # Its own process group, so a test can kill the worker and its pool children at once.
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker", "worker", "--loglevel", "INFO",
                 "--concurrency", str(concurrency), "--pool", pool, "-n", f"test{len(workers)}@%h",
                 "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        worker = WorkerProcess(process, log)
        workers.append(worker)
        wait_for(lambda: "ready." in worker.output() or process.poll() is not None, timeout=60, what="worker ready")
        assert process.poll() is None, worker.output()
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def start_beat(tmp_path: Path) -> Iterator[Callable[[str], WorkerProcess]]:
    """Start a real ``celery -A worker beat`` with the current RELAY_CONFIG and the given Redis URL."""
    beats: list[WorkerProcess] = []

    def start(redis_url: str) -> WorkerProcess:
        log = tmp_path / f"beat-{len(beats)}.log"
        environment = {**os.environ, "RELAY_REDIS_URL": redis_url}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO",
                 "-s", str(tmp_path / f"beat-{len(beats)}-schedule")],
                cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        beat = WorkerProcess(process, log)
        beats.append(beat)
        wait_for(lambda: "beat: Starting" in beat.output() or process.poll() is not None, timeout=60, what="beat")
        assert process.poll() is None, beat.output()
        return beat

    yield start
    for beat in beats:
        beat.stop()
