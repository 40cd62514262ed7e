"""The processes a fault run starts, kills and restarts: Redis, the sandbox, the receiver, workers and beat."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from worker.redis import EmbeddedRedis, free_port, ping


@dataclass
class Child:
    """One child process, in its own process group so that a kill takes its pool children too."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        """Start (or restart) the process."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def kill(self) -> None:
        """SIGKILL the process group, as the OOM killer or a lost machine would."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a graceful stop), then SIGKILL what lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Cluster:
    """Relay on real processes in ``work_dir``, configured by ``config`` (a relay.yaml path)."""

    work_dir: Path
    config: Path
    env: dict[str, str]
    workers: int = 2
    redis: EmbeddedRedis = field(init=False)
    children: dict[str, Child] = field(default_factory=dict, init=False)
    receiver_port: int = field(default_factory=free_port, init=False)

    def __post_init__(self) -> None:
        self.redis = EmbeddedRedis(self.work_dir / "redis", port=free_port())

    @property
    def receiver_url(self) -> str:
        """The receiver's base URL."""
        return f"http://127.0.0.1:{self.receiver_port}"

    @property
    def child_env(self) -> dict[str, str]:
        """The environment of every Relay process of the run (and of the ``relay`` commands it runs)."""
        return {**self.env, "RELAY_CONFIG": str(self.config), "RELAY_REDIS_URL": self.redis.url}

    def start(self, sandbox_port: int) -> None:
        """Start Redis (append-only file on), the sandbox, the receiver, the workers and beat."""
        self.redis.start()
        env = self.child_env
        python = [sys.executable, "-m"]
        logs = self.work_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)

        def child(name: str, argv: list[str]) -> None:
            self.children[name] = Child(name, argv, logs / f"{name}.log", env).start()

        child("sandbox", [*python, "worker.cli", "sandbox", "--port", str(sandbox_port)])
        child("receiver", [*python, "worker.cli", "webhooks", "--port", str(self.receiver_port)])
        for n in range(self.workers):
            node = ["-n", f"chaos{n}@%h", "--concurrency", "2", "--without-gossip", "--without-mingle"]
            child(f"worker{n}", [*python, "celery", "-A", "worker", "worker", "--loglevel", "INFO", *node])
        child("beat", [*python, "celery", "-A", "worker", "beat", "-s", str(self.work_dir / "beat-schedule")])
        wait_http(f"{self.receiver_url}/healthz", 30)
        wait_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/health", 30)

    def restart(self, name: str) -> None:
        """SIGKILL a child and start it again."""
        self.children[name].kill()
        self.children[name].start()

    def restart_redis(self, *, kill: bool) -> None:
        """Stop Redis (SIGKILL, or SIGTERM which flushes) and start it again on the same port and files."""
        process = self.redis.process
        if kill and process is not None:
            process.kill()
            process.wait()
        else:
            self.redis.stop()
        deadline = time.monotonic() + 5
        while ping(self.redis.url) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.redis.start()

    def stop(self) -> None:
        """Stop every child, then Redis."""
        for child in reversed(self.children.values()):
            child.stop()
        self.redis.stop()


def wait_http(url: str, timeout: float) -> None:
    """Wait until ``url`` answers below 500, or raise ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
