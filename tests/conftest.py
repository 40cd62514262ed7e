"""Shared fixtures: real Redis (embedded, or RELAY_TEST_REDIS_URL), servers on threads, a real Celery worker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
import yaml

from tests.support import ROOT, FakeClock, Sandbox, Server, beat_argv, serve, worker_argv
from tests.worker.gitops.support import Gateway
from tests.worker.repos.support import Origin, git_server, make_origin
from worker.config import Settings, get_settings, load_settings
from worker.devtools.sandbox.gitserver import GitServer
from worker.devtools.supervise.children import Child, Supervisor, log_ready
from worker.devtools.supervise.embedded import EmbeddedRedis
from worker.liveness.heartbeat import stop_heartbeat
from worker.store import events


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


@pytest.fixture(autouse=True)
def heartbeats_stop_with_their_test() -> Iterator[None]:
    """A heartbeat a test starts (a run's event lock starts one) stops with it, not beating on after its Redis."""
    yield
    stop_heartbeat()


@pytest.fixture
def fake_redis() -> Iterator[redis.Redis]:
    """An in-memory Redis for unit tests."""
    client = fakeredis.FakeRedis()
    yield client
    client.flushall()


@pytest.fixture
def event_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The event store's one clock (``worker.store.events.clock``) set to a time no wall clock reads today."""
    clock = FakeClock(2_000_000_000.25)
    monkeypatch.setattr(events, "clock", clock)
    return clock


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


@pytest.fixture
def sandbox(serve_app: Callable[[Any], Server]) -> Sandbox:
    """A sandbox on a free port."""
    from worker.devtools.sandbox import create_app

    token = "sandbox-bootstrap-secret-0123456789"
    return Sandbox(serve_app(create_app(token)).url, token)


@pytest.fixture
def runtime_sandbox(serve_app: Callable[[Any], Server]) -> Sandbox:
    """A sandbox standing in for API7 3.5 (runtime resources per gateway group) on a free port."""
    from worker.devtools.sandbox import create_app

    token = "sandbox-bootstrap-secret-0123456789"
    return Sandbox(serve_app(create_app(token, api7_version="3.5.0")).url, token)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Supervisor]:
    """The test's child processes (workers, beat, ...), logging under ``tmp_path/logs``; all stopped at its end."""
    supervisor = Supervisor(tmp_path / "logs", {}, cwd=ROOT)
    yield supervisor
    supervisor.stop()


@pytest.fixture
def start_worker(processes: Supervisor) -> Callable[..., Child]:
    """Start real Celery workers with the current RELAY_CONFIG and the given Redis URL; wait until ready."""

    def start(redis_url: str, *, concurrency: int = 1, pool: str = "prefork", **env: str) -> Child:
        name = f"worker-{sum(name.startswith('worker-') for name in processes.children)}"
        argv = worker_argv(name, concurrency=concurrency, pool=pool)
        environment = {**os.environ, "RELAY_REDIS_URL": redis_url, **env}
        return processes.start(name, argv, env=environment, ready=log_ready("ready."), timeout=60)

    return start


@pytest.fixture
def start_beat(processes: Supervisor, tmp_path: Path) -> Callable[[str], Child]:
    """Start a real ``celery -A worker beat`` with the current RELAY_CONFIG and the given Redis URL."""

    def start(redis_url: str) -> Child:
        name = f"beat-{sum(name.startswith('beat-') for name in processes.children)}"
        argv = beat_argv(tmp_path / f"{name}-schedule")
        environment = {**os.environ, "RELAY_REDIS_URL": redis_url}
        return processes.start(name, argv, env=environment, ready=log_ready("beat: Starting"), timeout=60)

    return start


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    """An empty repository ``payments`` under ``tmp_path/srv``."""
    (tmp_path / "srv").mkdir()
    return make_origin(tmp_path / "srv")


@pytest.fixture
def git_origin_server(origin: Origin) -> Iterator[GitServer]:
    """The git server serving the origin's root, demanding ``GIT_TOKEN``."""
    with git_server(origin.bare.parent) as running:
        yield running


@pytest.fixture
def gateway(runtime_sandbox: Sandbox) -> Gateway:
    """API7 3.5's gateway group ``default`` (the sandbox's), as the GitOps tests read it."""
    return Gateway(runtime_sandbox)


@pytest.fixture
def gateway_32(sandbox: Sandbox) -> Gateway:
    """API7 3.2's gateway group ``default`` (the sandbox's, in its default generation)."""
    return Gateway(sandbox)
