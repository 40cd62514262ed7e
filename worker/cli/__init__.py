"""The ``relay`` command. Each group lives in its own module and imports the heavy parts only when run."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from worker.errors import RelayError


class RelayGroup(click.Group):
    """Turns Relay's own errors into a one-line message and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelayError as exc:
            click.echo(f"relay: {exc}", err=True)
            sys.exit(2)


@click.group(cls=RelayGroup)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default: $RELAY_CONFIG or ./relay.yaml).",
)
@click.version_option(package_name="relay")
def main(config_path: Path | None) -> None:
    """Relay: verified webhooks in, admin API calls out."""
    if config_path is not None:
        os.environ["RELAY_CONFIG"] = str(config_path)


def _register() -> None:
    from worker.cli.chaos import chaos
    from worker.cli.events import dlq, events
    from worker.cli.health import health
    from worker.cli.rules import rules
    from worker.cli.serve import sandbox, webhooks
    from worker.cli.status import status
    from worker.cli.tokens import tokens
    from worker.cli.up import up

    for command in (up, webhooks, sandbox, status, events, dlq, rules, tokens, chaos, health):
        main.add_command(command)


_register()
