"""The processes a benchmark starts: Redis, the sandbox, the receiver, a Relay or plain Celery worker, a baseline."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from worker.devtools.chaos.cluster import Child, wait_http
from worker.devtools.supervise.embedded import EmbeddedRedis, free_port

PYTHON = [sys.executable, "-m"]
WORKER_FLAGS = ["--concurrency", "2", "--without-gossip", "--without-mingle", "--without-heartbeat"]


def vm_hwm_kib(pid: int) -> int:
    """Peak resident memory (VmHWM) of ``pid`` in KiB; 0 when it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (a uvicorn supervisor's or Celery's pool processes)."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                pids += [int(x) for x in (task / "children").read_text(encoding="ascii").split()]
    return pids


@dataclass
class Bench:
    """Relay's parts on real processes in ``work_dir``; ``env`` carries the configuration and the token key."""

    work_dir: Path
    env: dict[str, str]
    receiver_workers: int = 1
    redis: EmbeddedRedis = field(init=False)
    children: dict[str, Child] = field(default_factory=dict, init=False)
    sandbox_port: int = field(default_factory=free_port, init=False)
    receiver_port: int = field(default_factory=free_port, init=False)

    def __post_init__(self) -> None:
        self.redis = EmbeddedRedis(self.work_dir / "redis", port=free_port())

    @property
    def sandbox_url(self) -> str:
        """The sandbox's base URL."""
        return f"http://127.0.0.1:{self.sandbox_port}"

    def start(self) -> None:
        """Start Redis, the sandbox and the receiver; wait until both answer."""
        self.redis.start()
        self.env["RELAY_REDIS_URL"] = self.redis.url
        self.spawn("sandbox", [*PYTHON, "worker.cli", "sandbox", "--port", str(self.sandbox_port)])
        receiver = ["webhooks", "--port", str(self.receiver_port), "--workers", str(self.receiver_workers)]
        self.spawn("receiver", [*PYTHON, "worker.cli", *receiver])
        wait_http(f"http://127.0.0.1:{self.receiver_port}/healthz", 30)
        wait_http(f"{self.sandbox_url}/_sandbox/health", 30)

    def spawn(self, name: str, argv: list[str]) -> Child:
        """Start a child process logging to ``logs/<name>.log``."""
        logs = self.work_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.children[name] = Child(name, argv, logs / f"{name}.log", self.env).start()
        return self.children[name]

    def start_worker(self, name: str, app: str, *, queues: str | None = None) -> Child:
        """A Celery worker of ``app`` with two pool processes (prefork, as deployed)."""
        extra = ["-Q", queues] if queues else []
        argv = [*PYTHON, "celery", "-A", app, "worker", "-n", f"{name}@%h", "--loglevel", "WARNING", *extra]
        return self.spawn(name, [*argv, *WORKER_FLAGS])

    def start_hello(self, port: int) -> Child:
        """The bare ASGI baseline on ``port``, as many processes as the receiver."""
        child = self.spawn("hello", [*PYTHON, "worker.devtools.bench.hello", str(port), str(self.receiver_workers)])
        wait_http(f"http://127.0.0.1:{port}/healthz", 30)
        return child

    def stop_child(self, name: str) -> None:
        """SIGTERM one child (its process group) and forget it."""
        child = self.children.pop(name, None)
        if child is not None:
            child.stop()

    def peak_kib(self, name: str, *, pool: bool) -> int:
        """The largest VmHWM among ``name``'s serving processes (its children when it forks, else itself)."""
        child = self.children.get(name)
        if child is None or child.process is None:
            return 0
        pids = child_pids(child.process.pid) if pool else []
        return max((vm_hwm_kib(pid) for pid in pids or [child.process.pid]), default=0)

    def stop(self) -> None:
        """Stop every child, then Redis."""
        for name in reversed(list(self.children)):
            self.stop_child(name)
        self.redis.stop()
