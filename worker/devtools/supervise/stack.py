"""What ``relay up`` starts, in order (Redis, the sandbox for the demo, receiver, worker, beat), and its terminal."""

from __future__ import annotations

import secrets
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import click

from worker.devtools.supervise import gitops_demo
from worker.devtools.supervise.children import Supervisor
from worker.devtools.supervise.demo import (
    DEMO_API7_VERSION,
    DEMO_SOURCE,
    SANDBOX_TARGET,
    SECRET_ENV,
    TOKEN_ENV,
    signed_curl,
    write_demo_config,
    write_demo_env,
)
from worker.devtools.supervise.embedded import EmbeddedRedis, free_port
from worker.devtools.supervise.gitops_demo import GIT_TOKEN_ENV, DemoInfo
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
    demo_secret = start_demo(supervisor, env, data_dir, f"http://{host}:{port}", sandbox_port) if demo else None
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


def start_demo(supervisor: Supervisor, env: dict[str, str], data_dir: Path, receiver: str, sandbox_port: int) -> str:
    """The demo: generated secrets, the GitOps repository and its git server, the sandbox; the source's secret."""
    demo_secret = secrets.token_hex(16)
    env[SECRET_ENV] = demo_secret
    env[TOKEN_ENV] = env["RELAY_SANDBOX_TOKEN"] = secrets.token_urlsafe(24)
    git_url = start_git_server(supervisor, env, data_dir)
    gitops = gitops_demo.gitops_overlay(git_url, SANDBOX_TARGET) if git_url else None
    env["RELAY_CONFIG"] = str(write_demo_config(data_dir, sandbox_port, gitops))
    names = (SECRET_ENV, TOKEN_ENV, "RELAY_SANDBOX_TOKEN", *([GIT_TOKEN_ENV] if git_url else []))
    write_demo_env(data_dir, {name: env[name] for name in names})
    # The bootstrap secret travels in the environment, never on a command line.
    version = ["--api7-version", f"{DEMO_API7_VERSION}.0"]
    supervisor.start("sandbox", [sys.executable, "-m", "worker.cli", "sandbox", "--port", str(sandbox_port), *version])
    if git_url:
        work, bare = data_dir / gitops_demo.REPO, data_dir / "gitops" / f"{gitops_demo.REPO}.git"
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        DemoInfo(receiver, sandbox, git_url, str(bare), str(work)).save(data_dir)
    return demo_secret


def start_git_server(supervisor: Supervisor, env: dict[str, str], data_dir: Path) -> str | None:
    """The GitOps demo's repository and its git server (demanding a generated token); its URL, or None without git."""
    (data_dir / gitops_demo.INFO_FILE).unlink(missing_ok=True)
    missing = gitops_demo.git_available()
    if missing:
        click.echo(f"note: {missing}; the GitOps demo (a repository the sandbox follows) is left out", err=True)
        return None
    root, _ = gitops_demo.prepare_repository(data_dir)
    port = free_port()
    env[GIT_TOKEN_ENV] = token = secrets.token_urlsafe(24)
    argv = gitops_demo.git_server_argv(sys.executable, root, port)
    # The token reaches the server in its environment only; Relay's children get it through the token store.
    supervisor.start("git", argv, env=gitops_demo.git_server_env(token))
    return f"http://127.0.0.1:{port}"


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
        info = DemoInfo.load(data_dir)
        if info is not None:
            click.echo(gitops_walkthrough(info))
    click.echo("\nCtrl-C stops everything.")


def gitops_walkthrough(info: DemoInfo) -> str:
    """The five-minute GitOps path: post a push for the demo repository, see the gateway change, edit and repeat."""
    work, group = info.work, info.group
    return "\n".join(
        [
            f"\nGitOps: the sandbox's gateway group {group!r} follows {work}/gateway/*.yaml (ADC's format),",
            f"read at each pushed commit from {info.git_server} (which demands a generated token).",
            "  relay demo push      # the signed push webhook for the newest commit (--print: the same as curl)",
            f"  curl -s {info.sandbox}/_sandbox/gateway_groups/{group}   # what the group holds now",
            "  relay gitops status  # last applied revision, outcome, plan summary",
            f"Then change {work}/gateway/demo.yaml (add a route) and:",
            f"  git -C {work} commit -qam 'gateway: my change' && git -C {work} push -q && relay demo push",
        ]
    )
