"""``relay health webhooks|worker|beat``: container health checks, one per role of the one image.

Each exits 0 when healthy and 1 otherwise, with one line saying why (never a secret: no URL with credentials).
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

import click

DEFAULT_SCHEDULE = "/tmp/celerybeat-schedule"  # noqa: S108 (where compose.yaml's beat keeps its schedule)
# Beat's shelve is written back at least every 3 minutes (Celery's PersistentScheduler.sync_every).
DEFAULT_SCHEDULE_AGE = 300.0


def _verdict(healthy: bool, message: str) -> NoReturn:
    click.echo(message, err=not healthy)
    sys.exit(0 if healthy else 1)


@click.group()
def health() -> None:
    """Exit 0 when this container's part of Relay is healthy (for Docker HEALTHCHECKs)."""


@health.command("webhooks")
@click.option("--url", default="http://127.0.0.1:8000/readyz", show_default=True, help="The receiver's readiness.")
@click.option("--timeout", default=3.0, show_default=True)
def webhooks_health(url: str, timeout: float) -> None:
    """The receiver answers /readyz with 200 (it reaches Redis)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (a fixed loopback URL)
            _verdict(response.status == 200, f"webhooks: {response.status}")
    except (urllib.error.URLError, OSError) as exc:
        _verdict(False, f"webhooks: not ready ({getattr(exc, 'reason', exc)})")


@health.command("worker")
@click.option("--node", help="Celery node name (default: celery@<this host>, Celery's own default).")
@click.option("--timeout", default=5.0, show_default=True)
def worker_health(node: str | None, timeout: float) -> None:
    """This host's Celery worker answers a ping through the broker."""
    from worker.celery_app import app

    name = node or f"celery@{socket.gethostname()}"
    git_problem = _git_problem()
    try:
        replies = app.control.ping(destination=[name], timeout=timeout)
    except Exception as exc:  # the broker unreachable: kombu raises its own and redis' errors
        _verdict(False, f"worker {name}: broker unreachable ({type(exc).__name__})" + git_problem)
    healthy = any(name in reply for reply in replies) and not git_problem
    _verdict(healthy, f"worker {name}: {'pong' if replies else 'no reply'}" + git_problem)


def _git_problem() -> str:
    """``; <why>`` when ``repos:`` is configured and git cannot read them, else empty."""
    from worker.config import get_settings
    from worker.errors import GitMissing
    from worker.repos.git import check_git

    if not get_settings().repos:
        return ""
    try:
        check_git()
    except GitMissing as exc:
        return f"; repos: {exc}"
    return ""


@health.command("beat")
@click.option("--schedule", default=DEFAULT_SCHEDULE, show_default=True, help="Beat's --schedule file.")
@click.option("--max-age", default=DEFAULT_SCHEDULE_AGE, show_default=True, help="Seconds since beat wrote it.")
def beat_health(schedule: str, max_age: float) -> None:
    """Beat wrote its schedule file recently (it syncs it as it ticks)."""
    path = Path(schedule)
    # The shelve's files carry a suffix that depends on the dbm module (.db, .dat/.dir, none).
    files = [candidate for candidate in path.parent.glob(path.name + "*") if candidate.is_file()]
    if not files:
        _verdict(False, f"beat: no schedule file at {schedule}")
    age = time.time() - max(candidate.stat().st_mtime for candidate in files)
    _verdict(age <= max_age, f"beat: schedule written {age:.0f}s ago (limit {max_age:.0f}s)")
