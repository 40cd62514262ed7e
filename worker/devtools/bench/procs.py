"""The processes a benchmark starts: Redis, the sandbox, the receiver, a Relay or plain Celery worker, a baseline."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from worker.devtools.bench import peer
from worker.devtools.supervise.children import Child, Supervisor, http_ready
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


def cpu_seconds(pid: int) -> float:
    """User and system time of ``pid`` and of its children it has waited for (a forked command); 0 when gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        # Fields after the command name (which may hold spaces): utime, stime, cutime, cstime are 14-17 of stat.
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return 0.0


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
    supervisor: Supervisor = field(init=False)
    sandbox_port: int = field(default_factory=free_port, init=False)
    receiver_port: int = field(default_factory=free_port, init=False)

    def __post_init__(self) -> None:
        self.redis = EmbeddedRedis(self.work_dir / "redis", port=free_port())
        self.supervisor = Supervisor(self.work_dir / "logs", self.env)

    @property
    def sandbox_url(self) -> str:
        """The sandbox's base URL."""
        return f"http://127.0.0.1:{self.sandbox_port}"

    def start(self) -> None:
        """Start Redis, the sandbox and the receiver; wait until both answer."""
        self.redis.start()
        self.env["RELAY_REDIS_URL"] = self.redis.url
        sandbox = self.spawn("sandbox", [*PYTHON, "worker.cli", "sandbox", "--port", str(self.sandbox_port)])
        receiver = ["webhooks", "--port", str(self.receiver_port), "--workers", str(self.receiver_workers)]
        self.spawn("receiver", [*PYTHON, "worker.cli", *receiver]).wait_ready(
            http_ready(f"http://127.0.0.1:{self.receiver_port}/healthz"), 30
        )
        sandbox.wait_ready(http_ready(f"{self.sandbox_url}/_sandbox/health"), 30)

    def spawn(self, name: str, argv: list[str]) -> Child:
        """Start a child process logging to ``logs/<name>.log`` (with ``env`` as it is now)."""
        return self.supervisor.start(name, argv, env=self.env)

    def start_worker(self, name: str, app: str, *, queues: str | None = None) -> Child:
        """A Celery worker of ``app`` with two pool processes (prefork, as deployed)."""
        extra = ["-Q", queues] if queues else []
        argv = [*PYTHON, "celery", "-A", app, "worker", "-n", f"{name}@%h", "--loglevel", "WARNING", *extra]
        return self.spawn(name, [*argv, *WORKER_FLAGS])

    def start_hello(self, port: int) -> Child:
        """The bare ASGI baseline on ``port``, as many processes as the receiver."""
        argv = [*PYTHON, "worker.devtools.bench.hello", str(port), str(self.receiver_workers)]
        return self.spawn("hello", argv).wait_ready(http_ready(f"http://127.0.0.1:{port}/healthz"), 30)

    def start_peer(self, port: int, secret: str) -> Child:
        """adnanh/webhook on ``port``, checking GitHub's signature made with ``secret``."""
        hooks = peer.write_hooks(self.work_dir / "hooks.json", secret)
        child = self.spawn("webhook", peer.argv(hooks, port))
        return child.wait_ready(http_ready(f"http://127.0.0.1:{port}/hooks/{peer.HOOK_ID}"), 30)

    def stop_child(self, name: str) -> None:
        """Stop one child gracefully and forget it."""
        self.supervisor.stop_child(name)

    def cpu(self, name: str) -> float:
        """CPU seconds used so far by ``name``'s serving processes (a uvicorn supervisor's workers when it has some).

        ``redis`` is the embedded Redis server.
        """
        if name == "redis":
            process = self.redis.child.process if self.redis.child is not None else None
            return cpu_seconds(process.pid) if process is not None else 0.0
        child = self.supervisor.children.get(name)
        if child is None or child.process is None:
            return 0.0
        pids = child_pids(child.process.pid) if name != "webhook" and self.receiver_workers > 1 else []
        return sum(cpu_seconds(pid) for pid in pids or [child.process.pid])

    def peak_kib(self, name: str, *, pool: bool) -> int:
        """The largest VmHWM among ``name``'s serving processes (its children when it forks, else itself)."""
        child = self.supervisor.children.get(name)
        if child is None or child.process is None:
            return 0
        pids = child_pids(child.process.pid) if pool else []
        return max((vm_hwm_kib(pid) for pid in pids or [child.process.pid]), default=0)

    def stop(self) -> None:
        """Stop every child, then Redis."""
        self.supervisor.stop()
        self.redis.stop()
