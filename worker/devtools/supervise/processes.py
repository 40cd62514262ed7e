"""``relay up``'s guards around its children: one holder per data dir, free ports, signals, a worker that answers.

The children themselves are started and stopped by ``children.Supervisor``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from worker.waiting import poll

LOCK_FILE = "up.lock"


def wait_worker(settings: Any, env: dict[str, str], timeout: float) -> bool:
    """Wait until a worker answers a ping through the broker, so that "up" means an event posted now runs now."""
    from worker.celery_app import private_app

    url = env.get("RELAY_REDIS_URL") or settings.redis_url
    if not url:
        return True
    app = private_app(settings, redis_url=url)

    def answered() -> bool:
        with contextlib.suppress(Exception):  # a broker hiccup while starting: ask again
            return bool(app.control.ping(timeout=0.5, limit=1))  # the first reply ends the wait
        return False

    try:
        return poll(answered, timeout=timeout) is not None
    finally:
        app.close()


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
