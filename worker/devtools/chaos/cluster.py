"""The processes a fault run starts, kills and restarts: Redis, the sandbox, the receiver, workers and beat."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from worker.devtools.supervise.children import Child, Supervisor, http_ready
from worker.devtools.supervise.embedded import EmbeddedRedis, free_port
from worker.store.connection import ping
from worker.waiting import poll


@dataclass
class Cluster:
    """Relay on real processes in ``work_dir``, configured by ``config`` (a relay.yaml path)."""

    work_dir: Path
    config: Path
    env: dict[str, str]
    workers: int = 2
    sandbox_args: tuple[str, ...] = ()  # e.g. ("--api7-version", "3.5.0")
    redis: EmbeddedRedis = field(init=False)
    supervisor: Supervisor = field(init=False)
    receiver_port: int = field(default_factory=free_port, init=False)

    def __post_init__(self) -> None:
        self.redis = EmbeddedRedis(self.work_dir / "redis", port=free_port())
        self.supervisor = Supervisor(self.work_dir / "logs", dict(self.env))

    @property
    def children(self) -> dict[str, Child]:
        """The children by name (sandbox, receiver, worker0.., beat)."""
        return self.supervisor.children

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
        self.supervisor.env.update(self.child_env)
        python = [sys.executable, "-m"]
        start = self.supervisor.start
        sandbox = start("sandbox", [*python, "worker.cli", "sandbox", "--port", str(sandbox_port), *self.sandbox_args])
        receiver = start("receiver", [*python, "worker.cli", "webhooks", "--port", str(self.receiver_port)])
        for n in range(self.workers):
            node = ["-n", f"chaos{n}@%h", "--concurrency", "2", "--without-gossip", "--without-mingle"]
            start(f"worker{n}", [*python, "celery", "-A", "worker", "worker", "--loglevel", "INFO", *node])
        start("beat", [*python, "celery", "-A", "worker", "beat", "-s", str(self.work_dir / "beat-schedule")])
        receiver.wait_ready(http_ready(f"{self.receiver_url}/healthz"), 30)
        sandbox.wait_ready(http_ready(f"http://127.0.0.1:{sandbox_port}/_sandbox/health"), 30)

    def restart(self, name: str) -> None:
        """SIGKILL a child and start it again."""
        self.supervisor.restart(name)

    def restart_redis(self, *, kill: bool) -> None:
        """Stop Redis (SIGKILL, or SIGTERM which flushes) and start it again on the same port and files."""
        if kill:
            self.redis.kill()
        else:
            self.redis.stop()
        poll(lambda: not ping(self.redis.url), timeout=5)
        self.redis.start()

    def stop(self) -> None:
        """Stop every child, then Redis."""
        self.supervisor.stop(20.0)
        self.redis.stop()
