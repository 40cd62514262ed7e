"""Shared fixtures: real Redis (embedded, or RELAY_TEST_REDIS_URL), servers on threads, a real Celery worker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
import yaml

from tests.support import ROOT, Sandbox, Server, WorkerProcess, serve, wait_for
from tests.worker.repos.support import Origin, git_server, make_origin
from worker.redis import EmbeddedRedis
from worker.sandbox.gitserver import GitServer
from worker.settings import Settings, get_settings, load_settings


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
    from worker.sandbox import create_app

    token = "sandbox-bootstrap-secret-0123456789"
    return Sandbox(serve_app(create_app(token)).url, token)


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
