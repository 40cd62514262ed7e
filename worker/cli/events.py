"""``relay events`` and ``relay dlq``: look at events, replay them, and steer the dead letters."""

from __future__ import annotations

import sys
from functools import partial

import click

from worker.cli.output import print_json, print_table, timestamp
from worker.cli.params import Age
from worker.store import deadletters
from worker.store.events import FINAL_STATUSES, EventRecord, EventStatus, EventStore
from worker.store.inflight import Resolution, resolve_unknown


def _store() -> EventStore:
    from worker.config import get_settings
    from worker.store.connection import connect, resolve_redis_url

    settings = get_settings()
    return EventStore(connect(resolve_redis_url(settings)), retention_seconds=settings.retention_seconds)


def _replay(store: EventStore, event_id: str, *, force: bool = False, unknown: Resolution = "refuse") -> EventRecord:
    """Re-queue one event; actions already done are skipped when it runs again, unknown ones as ``unknown`` says."""
    from worker.celery_app import EVENTS_QUEUE, event_messages

    status = store.get(event_id).status
    if status not in FINAL_STATUSES and not force:
        raise click.ClickException(
            f"event {event_id} is {status}: it will finish on its own (--force queues it again anyway)"
        )
    from worker.store import history

    message = event_messages().encode(event_id)
    record = store.replay(event_id, queue=EVENTS_QUEUE, message=message, resolve=partial(resolve_unknown, how=unknown))
    history.append(store.redis, event_id, "replayed", ttl=store.retention_seconds, by=f"relay (was {status})")
    return record


def _resolution(skip_unknown: bool, retry_unknown: bool) -> Resolution:
    if skip_unknown and retry_unknown:
        raise click.UsageError("--skip-unknown and --retry-unknown exclude each other")
    return "skip" if skip_unknown else "retry" if retry_unknown else "refuse"


_skip_unknown = click.option(
    "--skip-unknown", is_flag=True, help="An action whose outcome is unknown took effect: record it as done."
)
_retry_unknown = click.option(
    "--retry-unknown", is_flag=True, help="An action whose outcome is unknown did not take effect: send it again."
)


def _print_records(records: list[EventRecord], as_json: bool) -> None:
    if as_json:
        print_json([record.to_json(with_payload=False) for record in records])
        return
    print_table(
        ["id", "received", "source", "type", "status", "attempts", "error"],
        [
            [r.id, timestamp(r.received_at), r.source, r.type, r.status, r.attempts, (r.error or "")[:70]]
            for r in records
        ],
    )


@click.group()
def events() -> None:
    """List, inspect and replay events."""


@events.command("list")
@click.option("--limit", default=20, show_default=True, help="How many of the newest events.")
@click.option("--status", type=click.Choice([s.value for s in EventStatus]), help="Only events in this status.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def list_events(limit: int, status: str | None, as_json: bool) -> None:
    """The newest events first."""
    _print_records(_store().recent(limit, status=EventStatus(status) if status else None), as_json)


@events.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def show_event(event_id: str, as_json: bool) -> None:
    """One event in full: each action's result, the error, the payload."""
    from worker.ops.story import timeline
    from worker.store import history

    store = _store()
    record = store.get(event_id)
    steps = timeline(record, history.read(store.redis, event_id))
    if as_json:
        print_json({**record.to_json(), "timeline": [step.to_json() for step in steps]})
        return
    for label, value in [
        ("id", record.id),
        ("source", record.source),
        ("type", record.type),
        ("delivery_id", record.delivery_id),
        ("received", timestamp(record.received_at)),
        ("status", record.status),
        ("attempts", record.attempts),
        ("error", record.error or "-"),
    ]:
        click.echo(f"{label + ':':<13}{value}")
    click.echo("timeline:")
    for step in steps:
        click.echo(f"  {timestamp(step.at)}  {step.kind:<13} {step.text}")
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


@events.command("replay")
@click.argument("event_ids", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Also events not finished yet (queued, running, retrying).")
@_skip_unknown
@_retry_unknown
def replay_events(event_ids: tuple[str, ...], force: bool, skip_unknown: bool, retry_unknown: bool) -> None:
    """Queue finished events again; actions that already took effect are not repeated."""
    store = _store()
    unknown = _resolution(skip_unknown, retry_unknown)
    for event_id in event_ids:
        _replay(store, event_id, force=force, unknown=unknown)
        click.echo(f"replayed {event_id}")


@click.group()
def dlq() -> None:
    """Dead letters: events whose actions failed for good."""


@dlq.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def list_dead_letters(limit: int, as_json: bool) -> None:
    """Dead-lettered events, newest first."""
    _print_records(_store().dead_letters(limit), as_json)


@dlq.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter.")
@_skip_unknown
@_retry_unknown
def replay_dead_letters(event_ids: tuple[str, ...], replay_all: bool, skip_unknown: bool, retry_unknown: bool) -> None:
    """Take events off the dead letters and queue them again."""
    store = _store()
    unknown = _resolution(skip_unknown, retry_unknown)
    ids = [record.id for record in store.dead_letters(10**6)] if replay_all else list(event_ids)
    if not ids:
        raise click.UsageError("name event ids, or --all")
    with click.progressbar(ids, label="replaying", file=sys.stderr) as bar:
        for event_id in bar:
            _replay(store, event_id, unknown=unknown)
    click.echo(f"replayed {len(ids)} event(s)")


@dlq.command("purge")
@click.argument("event_ids", nargs=-1)
@click.option("--all", "purge_all", is_flag=True, help="Every dead letter.")
@click.option("--older-than", "older_than", type=Age(), help="Those dead-lettered longer ago, e.g. 7d, 12h, 30m.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_dead_letters(event_ids: tuple[str, ...], purge_all: bool, older_than: float | None, yes: bool) -> None:
    """Delete dead-lettered events for good."""
    store = _store()
    if older_than is not None:
        if event_ids or purge_all:
            raise click.UsageError("--older-than goes alone, without event ids or --all")
        if not yes:
            click.confirm(f"Delete every dead letter older than {older_than:g} s for good?", abort=True)
        click.echo(f"purged {deadletters.purge_older_than(store.redis, older_than)} event(s)")
        return
    ids = [record.id for record in store.dead_letters(10**6)] if purge_all else list(event_ids)
    if not ids:
        raise click.UsageError("name event ids, --all or --older-than")
    if not yes:
        click.confirm(f"Delete {len(ids)} dead-lettered event(s) for good?", abort=True)
    purged = sum(store.purge_dead_letter(event_id) for event_id in ids)
    click.echo(f"purged {purged} event(s)")
