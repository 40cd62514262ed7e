"""``relay up``: everything in one command for development and demos.

It starts an embedded Redis (unless ``redis_url`` is set), the receiver, one worker and beat as child
processes, plus the admin API sandbox wired in as target ``sandbox`` when no target is configured. Ctrl-C
stops them all, Redis last.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import yaml

from worker.logs import LogFollower, wants_text
from worker.settings import Settings, config_path, load_settings, parse_config_file
from worker.tokens.keys import KEY_FILE, TOKEN_KEY_ENV, ensure_dev_key

DEMO_SOURCE = "demo"
LOCK_FILE = "up.lock"
DEMO_ENV_FILE = "up.env"  # the demo's generated secrets while it runs (0600, deleted on stop)
SANDBOX_TARGET = "sandbox"
DEMO_BODY = {
    "ref": "refs/heads/main",
    "repository": {"full_name": "acme/demo"},
    "head_commit": {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "Hello from relay up"},
}
_SECRET_ENV = "RELAY_UP_DEMO_SECRET"  # noqa: S105 (a variable name, not a secret)
_TOKEN_ENV = "RELAY_UP_SANDBOX_TOKEN"  # noqa: S105 (a variable name, not a secret)


def demo_overlay() -> dict[str, Any]:
    """Configuration added when none has a target: the sandbox, a demo GitHub source and a rule for every event."""
    return {
        "sources": {DEMO_SOURCE: {"kind": "github", "secret": f"${{{_SECRET_ENV}}}"}},
        "targets": {
            SANDBOX_TARGET: {
                "kind": "api7",
                "base_url": "http://127.0.0.1:{port}",
                "token_secret": f"${{{_TOKEN_ENV}}}",
            }
        },
        "rules": [
            {
                "name": "sandbox-every-event",
                "on": {"source": "*", "event": "*"},
                "do": [{"call": SANDBOX_TARGET, "method": "GET", "path": "/api/gateway_groups"}],
            }
        ],
    }


def signed_curl(url: str, secret: str, delivery_id: str) -> str:
    """A copy-paste curl that posts the demo push event, signed as GitHub signs (the secret is not shown)."""
    body = json.dumps(DEMO_BODY, separators=(",", ":"))
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    parts = [
        "curl -sS -X POST",
        shlex.quote(url),
        "-H 'Content-Type: application/json'",
        "-H 'X-GitHub-Event: push'",
        f"-H 'X-GitHub-Delivery: {delivery_id}'",
        f"-H 'X-Hub-Signature-256: sha256={signature}'",
        "--data " + shlex.quote(body),
    ]
    return " ".join(parts)


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


def _wait_worker(settings: Any, env: dict[str, str], timeout: float) -> bool:
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


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return True
        time.sleep(0.1)
    return False


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
        stop = _stop_on_signals()
        env = {**os.environ, "RELAY_DATA_DIR": str(data_dir)}
        supervisor = Supervisor(data_dir / "logs", env)
        # The children log to files; their new lines are echoed here, readable on a terminal (JSON otherwise).
        follower = LogFollower(data_dir / "logs", text=wants_text(sys.stdout))
        redis_server = None
        try:
            click.echo(f"starting Relay in {data_dir} ...", err=True)
            redis_server = _start_redis(settings.redis_url, data_dir, env)
            demo_secret = _start_children(supervisor, env, data_dir, host, port, sandbox_port, demo)
            receiver = f"http://{host}:{port}"
            if not _wait_http(f"{receiver}/healthz", 30):
                raise click.ClickException(f"the receiver did not start; see {data_dir / 'logs' / 'webhooks.log'}")
            _wait_worker(settings, env, 30)
            _announce(receiver, redis_server, data_dir, sandbox_port if demo else None, demo_secret)
            _supervise(supervisor, data_dir, stop, follower)
        finally:
            supervisor.stop()
            if redis_server is not None:
                redis_server.stop()
            (data_dir / DEMO_ENV_FILE).unlink(missing_ok=True)
        click.echo("Relay stopped.", err=True)


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


def write_demo_env(data_dir: Path, values: dict[str, str]) -> None:
    """The demo's generated secrets, mode 0600 beside the token key, so CLI commands can read its configuration."""
    path = data_dir / DEMO_ENV_FILE
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in values.items())


def read_demo_env(data_dir: Path) -> dict[str, str]:
    """What ``write_demo_env`` wrote, or nothing."""
    try:
        text = (data_dir / DEMO_ENV_FILE).read_text(encoding="utf-8")
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


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


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


def _start_redis(redis_url: str | None, data_dir: Path, env: dict[str, str]) -> Any:
    from worker.redis import EmbeddedRedis

    if redis_url is not None:
        return None
    redis_server = EmbeddedRedis(data_dir).start()
    env["RELAY_REDIS_URL"] = redis_server.url
    return redis_server


def _start_children(
    supervisor: Supervisor, env: dict[str, str], data_dir: Path, host: str, port: int, sandbox_port: int, demo: bool
) -> str | None:
    """Start the sandbox (demo only), the receiver, a worker and beat; returns the demo source's secret."""
    if not env.get(TOKEN_KEY_ENV) and ensure_dev_key(data_dir):
        click.echo(f"generated {data_dir / KEY_FILE} to encrypt stored tokens (production sets {TOKEN_KEY_ENV})")
    demo_secret = None
    if demo:
        demo_secret = secrets.token_hex(16)
        env[_SECRET_ENV] = demo_secret
        env[_TOKEN_ENV] = env["RELAY_SANDBOX_TOKEN"] = secrets.token_urlsafe(24)
        env["RELAY_CONFIG"] = str(_write_demo_config(data_dir, sandbox_port))
        write_demo_env(data_dir, {name: env[name] for name in (_SECRET_ENV, _TOKEN_ENV, "RELAY_SANDBOX_TOKEN")})
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


def _supervise(supervisor: Supervisor, data_dir: Path, stop: threading.Event, follower: LogFollower) -> None:
    while not stop.wait(0.2):
        for line in follower.poll():
            click.echo(line)
        failed = supervisor.exited()
        if failed:
            raise click.ClickException(f"{failed} exited; see {data_dir / 'logs' / (failed + '.log')}")
    click.echo("stopping...", err=True)


def _write_demo_config(data_dir: Path, sandbox_port: int) -> Path:
    """The user's configuration (references unexpanded) plus the demo overlay, as a file for the children."""
    path = config_path()
    user = parse_config_file(path)
    overlay = demo_overlay()
    overlay["targets"][SANDBOX_TARGET]["base_url"] = f"http://127.0.0.1:{sandbox_port}"
    merged = {
        **user,
        "sources": {**overlay["sources"], **(user.get("sources") or {})},
        "targets": overlay["targets"],
        "rules": [*(user.get("rules") or []), *overlay["rules"]],
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    out = data_dir / "up.yaml"
    out.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    return out


def _announce(
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
