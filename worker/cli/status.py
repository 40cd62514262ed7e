"""``relay status``: is Relay healthy? Every part named, then queues, workers, throughput, dead letters, tokens
and recent failures on one screen (``--watch`` keeps it fresh, ``--json`` for scripts)."""

from __future__ import annotations

import time
from typing import Any

import click
import redis
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from worker.cli.output import print_json, redis_failure, timestamp

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.option("--watch", is_flag=True, help="Refresh in place until Ctrl-C.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between refreshes with --watch.")
def status(as_json: bool, watch: bool, interval: float) -> None:
    """Health of each part, queues, workers, throughput, dead letters, tokens; exit 1 when something needs attention."""
    from worker.config import get_settings
    from worker.store.connection import connect, resolve_redis_url

    settings = get_settings()
    url = resolve_redis_url(settings)
    client = connect(url, settings)
    if watch:
        _watch(client, settings, url, interval)
        return
    try:
        client.ping()
    except redis.RedisError as exc:
        raise click.ClickException(redis_failure(url, exc)) from None
    report = _report(client, settings)
    if as_json:
        print_json(report.to_json())
    else:
        Console(soft_wrap=False).print(render(report))
    if report.attention:
        raise SystemExit(1)


def _report(client: redis.Redis, settings: Any) -> Any:
    from worker.celery_app import EVENTS_QUEUE
    from worker.ops.health import system_health

    return system_health(client, settings, queue=EVENTS_QUEUE)


def _watch(client: redis.Redis, settings: Any, url: str, interval: float) -> None:
    from rich.live import Live

    def screen() -> RenderableType:
        try:
            client.ping()
        except redis.RedisError as exc:
            return Text(f"relay: {redis_failure(url, exc)} (retrying)", style="bold red")
        return render(_report(client, settings))

    try:
        with Live(screen(), auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(screen(), refresh=True)
    except KeyboardInterrupt:
        pass


def render(report: Any) -> RenderableType:
    """The whole screen for one system health report."""
    overview = report.overview
    title = "healthy" if not report.attention else "NEEDS ATTENTION"
    header = Text(f"Relay: {title}", style=_STYLE[report.level])
    blocks: list[RenderableType] = [header, _parts(report)]
    if overview is not None:
        blocks += [_queues(overview), _workers(overview), _dead_letters(overview), _tokens(overview)]
        blocks += [_failures(overview)]
    return Group(*blocks)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", expand=False)
    for column in columns:
        table.add_column(column)
    return table


def _parts(report: Any) -> Table:
    table = _table("Parts", "part", "level", "state", "why")
    for part in report.parts:
        table.add_row(part.name, Text(part.level, style=_STYLE[part.level]), part.state, part.reason)
    return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _queues(overview: Any) -> Table:
    table = _table("Queue and throughput", "waiting", "in progress", "oldest waiting", "window", "received",
                   "finished", "failed")  # fmt: skip
    last5, last60 = overview.throughput(5), overview.throughput(60)
    first = [str(overview.waiting), str(overview.in_progress), _duration(overview.oldest_waiting_seconds)]
    table.add_row(*first, "5 min", *(str(last5[key]) for key in ("received", "finished", "failed")))
    table.add_row("", "", "", "60 min", *(str(last60[key]) for key in ("received", "finished", "failed")))
    return table


def _workers(overview: Any) -> Table:
    table = _table(f"Processes online ({len(overview.processes)})", "process", "up for")
    for process in overview.processes:
        up = None if process.started_at is None else overview.now - process.started_at
        table.add_row(process.owner, _duration(up))
    return table


def _dead_letters(overview: Any) -> Table:
    table = _table(f"Dead letters ({overview.dead_letters})", "reason", "count")
    for reason, count in overview.top_reasons:
        table.add_row(reason, str(count))
    return table


def _tokens(overview: Any) -> Table:
    table = _table("Tokens" if overview.tokens else "Tokens (none stored)", "name", "target", "status", "days left",
                   "expires", "next rotation")  # fmt: skip
    for row in overview.tokens:
        days = "never" if row.expires_at == 0 else ("-" if row.days_left is None else f"{row.days_left:g}")
        style = _STYLE.get({"expired": "fail", "invalid": "fail", "warn": "warn"}.get(row.status, "ok"), "")
        table.add_row(row.name, row.target, Text(row.status, style=style), days, timestamp(row.expires_at),
                      timestamp(row.next_rotation))  # fmt: skip
    return table


def _failures(overview: Any) -> Table:
    table = _table("Recent failures (relay events show ID)", "event", "when", "source/type", "error")
    for failure in overview.failures:
        table.add_row(failure.id, timestamp(failure.at), f"{failure.source}/{failure.type}", failure.error[:100])
    return table
