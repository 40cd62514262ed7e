"""What ``relay up`` starts, in order (Redis, the sandbox for the demo, receiver, worker, beat), and its terminal."""

from __future__ import annotations

import secrets
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import click

from worker.devtools.supervise.children import Supervisor
from worker.devtools.supervise.demo import (
    DEMO_SOURCE,
    SECRET_ENV,
    TOKEN_ENV,
    signed_curl,
    write_demo_config,
    write_demo_env,
)
from worker.devtools.supervise.embedded import EmbeddedRedis
from worker.devtools.supervise.tail import LogFollower
from worker.tokens.keys import KEY_FILE, TOKEN_KEY_ENV, ensure_dev_key


def start_redis(redis_url: str | None, data_dir: Path, env: dict[str, str]) -> Any:
    if redis_url is not None:
        return None
    redis_server = EmbeddedRedis(data_dir).start()
    env["RELAY_REDIS_URL"] = redis_server.url
    return redis_server


def start_children(
    supervisor: Supervisor, env: dict[str, str], data_dir: Path, host: str, port: int, sandbox_port: int, demo: bool
) -> str | None:
    """Start the sandbox (demo only), the receiver, a worker and beat; returns the demo source's secret."""
    if not env.get(TOKEN_KEY_ENV) and ensure_dev_key(data_dir):
        click.echo(f"generated {data_dir / KEY_FILE} to encrypt stored tokens (production sets {TOKEN_KEY_ENV})")
    demo_secret = None
    if demo:
        demo_secret = secrets.token_hex(16)
        env[SECRET_ENV] = demo_secret
        env[TOKEN_ENV] = env["RELAY_SANDBOX_TOKEN"] = secrets.token_urlsafe(24)
        env["RELAY_CONFIG"] = str(write_demo_config(data_dir, sandbox_port))
        write_demo_env(data_dir, {name: env[name] for name in (SECRET_ENV, TOKEN_ENV, "RELAY_SANDBOX_TOKEN")})
        # The bootstrap secret travels in the environment, never on a command line.
        supervisor.start("sandbox", [sys.executable, "-m", "worker.cli", "sandbox", "--port", str(sandbox_port)])
    python = [sys.executable, "-m"]
    supervisor.start("webhooks", [*python, "worker.cli", "webhooks", "--host", host, "--port", str(port)])
    # Without mingle: a lone worker would wait a second for neighbours' revoked lists (Relay revokes nothing).
    worker = ["--loglevel", "INFO", "--concurrency", "1", "--without-mingle", "--without-gossip"]
    supervisor.start("worker", [*python, "celery", "-A", "worker", "worker", *worker])
    supervisor.start(
        "beat",
        [
            *python,
            "celery",
            "-A",
            "worker",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(data_dir / "beat-schedule"),
        ],
    )
    return demo_secret


def supervise(supervisor: Supervisor, data_dir: Path, stop: threading.Event, follower: LogFollower) -> None:
    while not stop.wait(0.2):
        for line in follower.poll():
            click.echo(line)
        failed = supervisor.exited()
        if failed:
            raise click.ClickException(f"{failed} exited; see {data_dir / 'logs' / (failed + '.log')}")
    click.echo("stopping...", err=True)


def announce(
    receiver: str, redis_server: Any, data_dir: Path, sandbox_port: int | None, demo_secret: str | None
) -> None:
    click.echo("Relay is up.")
    click.echo(f"  receiver   {receiver}/hooks/<source>   (/healthz /readyz /metrics)")
    click.echo(f"  redis      {redis_server.url if redis_server else 'redis_url from configuration'}")
    if sandbox_port:
        click.echo(f"  sandbox    http://127.0.0.1:{sandbox_port}   (recorded calls: /_sandbox/requests)")
    click.echo("  worker     celery -A worker worker (1 process), beat")
    click.echo(f"  logs       {data_dir / 'logs'}")
    if demo_secret:
        click.echo("\nPost a signed example webhook:\n")
        click.echo(signed_curl(f"{receiver}/hooks/{DEMO_SOURCE}", demo_secret, str(uuid.uuid4())))
        click.echo(f"\nThen: curl -s http://127.0.0.1:{sandbox_port}/_sandbox/requests   and   relay events list")
    click.echo("\nCtrl-C stops everything.")
