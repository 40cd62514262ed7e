"""``relay up``: everything in one command for development and demos.

It starts an embedded Redis (unless ``redis_url`` is set), the receiver, one worker and beat as child
processes, plus the admin API sandbox wired in as target ``sandbox`` when no target is configured. Ctrl-C
stops them all, Redis last.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from worker.config import Settings, load_settings
from worker.devtools.supervise.children import ChildFailed, Supervisor, http_ready
from worker.devtools.supervise.demo import DEMO_ENV_FILE
from worker.devtools.supervise.gitops_demo import INFO_FILE
from worker.devtools.supervise.processes import check_ports_free, hold_data_dir, stop_on_signals, wait_worker
from worker.devtools.supervise.stack import announce, start_children, start_redis, supervise
from worker.devtools.supervise.tail import LogFollower
from worker.ops.logs import wants_text


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Default: data_dir, ./.relay")
@click.option("--host", default="127.0.0.1", show_default=True, help="Receiver address.")
@click.option("--port", default=8000, show_default=True, type=int, help="Receiver port.")
@click.option("--sandbox-port", default=9180, show_default=True, type=int)
def up(data_dir: Path | None, host: str, port: int, sandbox_port: int) -> None:
    """Run Relay: Redis (embedded unless configured), receiver, worker, beat, and the sandbox when needed."""
    settings = load_settings()
    data_dir = (data_dir or settings.data_dir).resolve()
    demo = not settings.targets
    _check_git(settings)
    with hold_data_dir(data_dir):
        check_ports_free(host, [port, *([sandbox_port] if demo else [])])
        stop = stop_on_signals()
        env = {**os.environ, "RELAY_DATA_DIR": str(data_dir)}
        supervisor = Supervisor(data_dir / "logs", env, die_with_parent=True)
        # The children log to files; their new lines are echoed here, readable on a terminal (JSON otherwise).
        follower = LogFollower(data_dir / "logs", text=wants_text(sys.stdout))
        redis_server = None
        try:
            click.echo(f"starting Relay in {data_dir} ...", err=True)
            redis_server = start_redis(settings.redis_url, data_dir, env)
            demo_secret = start_children(supervisor, env, data_dir, host, port, sandbox_port, demo)
            receiver = f"http://{host}:{port}"
            _wait_ready(supervisor, "webhooks", f"{receiver}/healthz", data_dir, what="the receiver")
            if demo:  # the demo's rule calls the sandbox: "Relay is up." means it answers too
                sandbox = f"http://127.0.0.1:{sandbox_port}/_sandbox/health"
                _wait_ready(supervisor, "sandbox", sandbox, data_dir, what="the sandbox")
            wait_worker(settings, env, 30)
            announce(receiver, redis_server, data_dir, sandbox_port if demo else None, demo_secret)
            supervise(supervisor, data_dir, stop, follower)
        finally:
            supervisor.stop()
            if redis_server is not None:
                redis_server.stop()
            (data_dir / DEMO_ENV_FILE).unlink(missing_ok=True)
            (data_dir / INFO_FILE).unlink(missing_ok=True)
        click.echo("Relay stopped.", err=True)


def _wait_ready(supervisor: Supervisor, name: str, url: str, data_dir: Path, *, what: str) -> None:
    """Wait (30 s at most) until child ``name`` answers ``url``; stop, naming its log, if it exits or never does."""
    try:
        supervisor[name].wait_ready(http_ready(url), 30)
    except ChildFailed:
        raise click.ClickException(f"{what} did not start; see {data_dir / 'logs' / (name + '.log')}") from None


def _check_git(settings: Settings) -> None:
    """Reading repositories needs git: stop before starting anything when ``repos:`` is set and git is missing."""
    from worker.errors import GitMissing
    from worker.repos.git import check_git

    try:
        found = check_git()
    except GitMissing as exc:
        if settings.repos:
            raise click.ClickException(f"repos: is configured but {exc}") from None
        click.echo(f"note: {exc}; reading repositories (repos:) will not work", err=True)
        return
    if settings.repos:
        click.echo(f"{found} reads repositories", err=True)
