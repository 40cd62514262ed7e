"""The ``relay`` command. Each group lives in its own module and imports the heavy parts only when run."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from worker.errors import RelayError

# Where ``relay up`` writes its demo configuration (``worker.devtools.supervise.demo``), under the default data dir.
UP_CONFIG = "up.yaml"
UP_REDIS_URL = "redis.url"


class RelayGroup(click.Group):
    """One error style: ``relay: <what>`` on standard error, exit 2 for usage errors and 1 for failures."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's main, with Relay's error lines instead of Click's ``Error:``."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            _usage_error(exc)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"relay: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("relay: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        """Relay's own errors and Redis' become one line and exit status 1, never a traceback."""
        import redis

        try:
            return super().invoke(ctx)
        except RelayError as exc:
            cause = exc.__context__
            message = _redis_line(cause) if isinstance(cause, redis.RedisError) else str(exc)
            click.echo(f"relay: {message}", err=True)
            sys.exit(1)
        except redis.RedisError as exc:
            click.echo(f"relay: {_redis_line(exc)}", err=True)
            sys.exit(1)


def _usage_error(exc: click.UsageError) -> None:
    if exc.ctx is not None:
        click.echo(exc.ctx.get_usage(), err=True)
        command = exc.ctx.command_path
        click.echo(f"Try '{command} -h' for help.", err=True)
    click.echo(f"relay: {exc.format_message()}", err=True)


def _redis_line(exc: BaseException) -> str:
    """The Redis server's URL (password masked) and the cause."""
    from worker.cli.output import redis_failure
    from worker.config import get_settings
    from worker.store.connection import resolve_redis_url

    try:
        url = resolve_redis_url(get_settings())
    except RelayError:
        url = "(unknown URL)"
    return redis_failure(url, exc)


def _demo_config() -> Path | None:
    """``relay up``'s demo configuration while it runs, when nothing else is configured."""
    if os.environ.get("RELAY_CONFIG") or Path("relay.yaml").exists():
        return None
    data_dir = Path(os.environ.get("RELAY_DATA_DIR") or ".relay")
    config = data_dir / UP_CONFIG
    if not (config.is_file() and (data_dir / UP_REDIS_URL).is_file()):
        return None
    from worker.devtools.supervise.demo import read_demo_env

    # The demo configuration names its generated secrets as ${VARIABLES}; relay up keeps them in a 0600 file.
    for name, value in read_demo_env(data_dir).items():
        os.environ.setdefault(name, value)
    return config


@click.group(cls=RelayGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default: $RELAY_CONFIG, ./relay.yaml, or the demo's while `relay up` runs).",
)
@click.version_option(package_name="relay")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Relay: verified webhooks in, admin API calls out."""
    if config_path is None and ctx.invoked_subcommand != "up":  # a second relay up must not run the first's demo
        config_path = _demo_config()
    if config_path is not None:
        os.environ["RELAY_CONFIG"] = str(config_path)


def _register() -> None:
    from worker.cli.bench import bench
    from worker.cli.chaos import chaos
    from worker.cli.demo import demo
    from worker.cli.events import dlq, events
    from worker.cli.gitops import gitops
    from worker.cli.health import health
    from worker.cli.repos import repos
    from worker.cli.rules import rules
    from worker.cli.serve import sandbox, webhooks
    from worker.cli.status import status
    from worker.cli.tokens import tokens
    from worker.cli.up import up

    for command in (
        up,
        webhooks,
        sandbox,
        status,
        events,
        dlq,
        rules,
        tokens,
        repos,
        chaos,
        health,
        bench,
        gitops,
        demo,
    ):
        main.add_command(command)


_register()
