"""Child processes for ``relay up``: started in their own sessions, stopped in reverse order, waited for."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx

LOCK_FILE = "up.lock"


def _die_with_parent() -> None:
    # Children get SIGTERM if `relay up` itself is killed, so nothing is ever left behind.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    """Starts child processes in their own sessions and stops them in reverse order."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str]) -> None:
        """Start ``argv`` with output to ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.children.append((name, process))

    def exited(self) -> str | None:
        """The name of a child that has exited, if any."""
        return next((name for name, process in self.children if process.poll() is not None), None)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM each child's process group, newest first; SIGKILL what is still there after ``timeout``."""
        for _, process in reversed(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, process in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.children.clear()


def wait_worker(settings: Any, env: dict[str, str], timeout: float) -> bool:
    """Wait until a worker answers a ping through the broker, so that "up" means an event posted now runs now."""
    from worker.celery_app import private_app

    url = env.get("RELAY_REDIS_URL") or settings.redis_url
    if not url:
        return True
    app = private_app(settings, redis_url=url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # a broker hiccup while starting: ask again
                if app.control.ping(timeout=0.5, limit=1):  # the first reply ends the wait
                    return True
        return False
    finally:
        app.close()


def wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def hold_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir`` for this ``relay up`` alone (an advisory lock that dies with the process)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise click.ClickException(f"another relay up holds {data_dir} (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)


def check_ports_free(host: str, ports: list[int]) -> None:
    """Refuse to start, naming the port, when something already listens where a child must."""
    for port in ports:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise click.ClickException(
                    f"port {port} is in use on {host}: stop what holds it or pass --port"
                ) from None


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop
