"""Printing for humans (aligned tables) and scripts (``--json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click


def print_json(data: Any) -> None:
    """Pretty JSON on standard output."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def timestamp(seconds: float | None) -> str:
    """A Unix time as an ISO-8601 UTC string."""
    if not seconds:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def masked_url(url: str) -> str:
    """``url`` with its password (and a user name standing for one) replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = []
    for piece in url.split(";"):  # a sentinel:// URL lists several hosts
        split = urlsplit(piece)
        if split.password is None and not split.username:
            parts.append(piece)
            continue
        host = split.hostname or ""
        netloc = f"{split.username + ':' if split.username and split.password else ''}***@{host}"
        netloc += f":{split.port}" if split.port else ""
        parts.append(urlunsplit(split._replace(netloc=netloc)))
    return ";".join(parts)


def redis_failure(url: str, exc: BaseException) -> str:
    """One line naming the server (password masked) and the cause."""
    cause = str(exc).strip() or type(exc).__name__
    return f"Redis at {masked_url(url)} unreachable: {cause}"
