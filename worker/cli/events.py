"""``relay events``: look at received events and what became of them."""

from __future__ import annotations

import click

from worker.cli.output import print_json, print_table, timestamp
from worker.events import EventStatus, EventStore


def _store() -> EventStore:
    from worker.celery_app import get_settings
    from worker.redis import connect, resolve_redis_url

    settings = get_settings()
    return EventStore(connect(resolve_redis_url(settings)), retention_seconds=int(settings.retention_days * 86400))


@click.group()
def events() -> None:
    """List and inspect events."""


@events.command("list")
@click.option("--limit", default=20, show_default=True, help="How many of the newest events.")
@click.option("--status", type=click.Choice([s.value for s in EventStatus]), help="Only events in this status.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def list_events(limit: int, status: str | None, as_json: bool) -> None:
    """The newest events first."""
    records = _store().recent(limit, status=EventStatus(status) if status else None)
    if as_json:
        print_json([record.to_json(with_payload=False) for record in records])
        return
    print_table(
        ["id", "received", "source", "type", "status", "attempts", "error"],
        [
            [r.id, timestamp(r.received_at), r.source, r.type, r.status, r.attempts, (r.error or "")[:60]]
            for r in records
        ],
    )


@events.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def show_event(event_id: str, as_json: bool) -> None:
    """One event in full: headers, payload, each action's result."""
    record = _store().get(event_id)
    if as_json:
        print_json(record.to_json())
        return
    click.echo(f"id:          {record.id}")
    click.echo(f"source:      {record.source}")
    click.echo(f"type:        {record.type}")
    click.echo(f"delivery_id: {record.delivery_id}")
    click.echo(f"received:    {timestamp(record.received_at)}")
    click.echo(f"status:      {record.status}")
    click.echo(f"attempts:    {record.attempts}")
    click.echo(f"error:       {record.error or '-'}")
    click.echo("actions:")
    if not record.actions:
        click.echo("  (none)")
    for action in record.actions:
        state = "ok" if action.ok else "failed"
        where = " ".join(str(action.detail.get(key, "")) for key in ("method", "path")).strip()
        click.echo(
            f"  {action.rule}[{action.index}] {action.kind} {action.target} {where} -> "
            f"{action.status_code or '-'} {state} (attempts {action.attempts})"
            + (f": {action.error}" if action.error else "")
        )
