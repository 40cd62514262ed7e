"""``relay webhooks`` and ``relay sandbox``: the HTTP servers."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import click
import uvicorn

if TYPE_CHECKING:
    from worker.config import ReceiverConfig


@click.command()
@click.option("--host", help="Address to listen on (default: receiver.host, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: receiver.port, 8000).")
@click.option("--workers", default=1, show_default=True, help="Receiver processes.")
def webhooks(host: str | None, port: int | None, workers: int) -> None:
    """Serve the webhook receiver."""
    from worker.config import get_settings
    from worker.ops.logs import configure_logging
    from worker.store.connection import resolve_redis_url

    settings = get_settings()
    resolve_redis_url(settings)  # fail now, with a clear message, rather than on the first delivery
    # For this process's own lines (uvicorn's supervisor with --workers); each process serving the app sets
    # logging up again when it imports webhooks.asgi, which replaces the root handler rather than adding one.
    configure_logging(settings.log_level)
    uvicorn.run(
        "webhooks.asgi:app",
        host=host or settings.receiver.host,
        port=port if port is not None else settings.receiver.port,
        workers=workers,
        log_config=None,  # keep Relay's JSON lines
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
        **receiver_server_options(settings.receiver),
    )


def receiver_server_options(receiver: ReceiverConfig) -> dict[str, Any]:
    """uvicorn options every receiver listener uses: Relay alone decides the client address, and limits hold."""
    return {
        # uvicorn's default rewrites the peer from X-Forwarded-For when it is 127.0.0.1, before Relay's own
        # trusted-proxy check: an allowlist could then be passed by anyone on the same host.
        "proxy_headers": False,
        "forwarded_allow_ips": "",
        # httptools (5x h11's rate) with a bound on the request head, which plain httptools lacks: past it, 431 and
        # the connection closed. An import string, so that ``--workers N`` processes load it too; the bound travels
        # in uvicorn's own option for it (h11's name).
        "http": "webhooks.protocol:BoundedHttpToolsProtocol",
        "h11_max_incomplete_event_size": receiver.max_header_bytes,
        "limit_concurrency": receiver.limit_concurrency,
        "timeout_keep_alive": receiver.timeout_keep_alive,
    }


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9180, show_default=True, type=int)
@click.option("--token", envvar="RELAY_SANDBOX_TOKEN", help="Bootstrap secret (default: generated, shown once).")
@click.option(
    "--api7-version",
    envvar="RELAY_SANDBOX_API7_VERSION",
    default="3.2.14.6",
    show_default=True,
    help="API7 version to stand in for: 3.2.x serves templates and publishing, 3.5.0 and later runtime resources.",
)
@click.option(
    "--default-page-size",
    type=click.IntRange(min=1),
    help="Page resource lists asked without page_size (default: answer the whole list).",
)
def sandbox(host: str, port: int, token: str | None, api7_version: str, default_page_size: int | None) -> None:
    """Serve a local stand-in for API7's admin API (and CODING's open API)."""
    from worker.devtools.sandbox import create_app
    from worker.devtools.sandbox.versions import check_version

    try:
        check_version(api7_version)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--api7-version") from None

    if not token:
        token = secrets.token_urlsafe(24)
        click.echo(f"sandbox bootstrap token (shown once): {token}", err=True)
    click.echo(f"sandbox admin API (API7 {api7_version}) on http://{host}:{port}", err=True)
    uvicorn.run(
        create_app(token, api7_version=api7_version, default_page_size=default_page_size),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
