"""``relay status``: is Relay healthy? Queue, dead letters, workers, tokens, at a glance."""

from __future__ import annotations

import time

import click

from worker.cli.output import print_json, print_table, timestamp


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def status(as_json: bool) -> None:
    """Queue depth, dead letters, worker liveness and token health; exit 1 when something needs attention."""
    from worker.celery_app import EVENTS_QUEUE
    from worker.health import snapshot
    from worker.redis import connect, resolve_redis_url
    from worker.settings import get_settings
    from worker.tokens.keys import load_cipher
    from worker.tokens.policy import status_now
    from worker.tokens.store import TokenStore

    settings = get_settings()
    client = connect(resolve_redis_url(settings))
    health = snapshot(client, EVENTS_QUEUE)
    now = time.time()
    records = TokenStore(client, lambda: load_cipher(settings.data_dir)).all()
    statuses = [str(status_now(record, settings, now)) for record in records]
    attention = (
        not health.workers_alive
        or health.dead_letters > 0
        or any(state in {"expired", "invalid", "warn"} for state in statuses)
    )
    if as_json:
        tokens = [
            {"name": record.name, "target": record.target, "status": state, "expires_at": record.expires_at}
            for record, state in zip(records, statuses, strict=True)
        ]
        print_json({**health.to_json(), "tokens": tokens, "attention": attention})
    else:
        age = health.canary_age_seconds
        workers = "no canary yet" if age is None else f"canary {age:.0f}s ago"
        click.echo(f"workers       {'alive' if health.workers_alive else 'NOT CONSUMING'} ({workers})")
        click.echo(f"queue         {health.queue_ready} waiting, {health.queue_unacked} in progress")
        click.echo(f"dead letters  {health.dead_letters}" + ("  (relay dlq list)" if health.dead_letters else ""))
        click.echo("tokens:" if records else "tokens        none stored")
        if records:
            print_table(
                ["name", "target", "status", "expires"],
                [
                    [r.name, r.target, state, timestamp(r.expires_at)]
                    for r, state in zip(records, statuses, strict=True)
                ],
            )
    if attention:
        raise SystemExit(1)
