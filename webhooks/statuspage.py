"""The status page: ``GET /status`` (one self-contained HTML page), ``/status.json`` and each event's story.

    GET /status                        HTML, no external assets: charts are inline SVG drawn by inline JS
    GET /status.json                   ``worker.ops.health.system_health``: parts, queue, minutes, tokens, failures
    GET /status/events/{id}            HTML: the same page showing one event's story
    GET /status/events/{id}.json       the event (without payload or headers) and its timeline

The page embeds its first data, so it renders without a round trip, then refreshes from ``/status.json``. It is
protected like ``/metrics``, by ``webhooks.operator_auth``: with ``receiver.metrics_token`` set it answers a bearer
token, or Basic auth with the token as password (so a browser can ask for it). Every value is inserted as text,
never as HTML.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from webhooks.operator_auth import authorized, refusal
from webhooks.statuspage_template import TEMPLATE
from worker.config import Settings
from worker.errors import EventNotFound, RelayError
from worker.ops.health import system_health
from worker.ops.story import timeline
from worker.store import history
from worker.store.events import EventStore

REFRESH_SECONDS = 5

Endpoint = Callable[[Request], Awaitable[Response]]


def status_data(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    """What ``/status.json`` answers."""
    from worker.celery_app import EVENTS_QUEUE

    return system_health(client, settings, queue=EVENTS_QUEUE).to_json()


def event_data(client: redis.Redis, settings: Settings, event_id: str) -> dict[str, Any]:
    """One event without its payload, and its timeline; ``EventNotFound`` when unknown."""
    record = EventStore(client, retention_seconds=settings.retention_seconds).get(event_id)
    steps = timeline(record, history.read(client, event_id))
    return {**record.to_json(with_payload=False), "timeline": [step.to_json() for step in steps]}


def render(data: dict[str, Any], *, event: dict[str, Any] | None = None) -> str:
    """The page with its first data embedded (``</`` escaped so no value can close the script)."""
    embedded = json.dumps({"status": data, "event": event, "refresh": REFRESH_SECONDS}, default=str)
    return TEMPLATE.replace("__RELAY_DATA__", embedded.replace("</", "<\\/"))


def routes(client: Callable[[], redis.Redis], settings: Settings) -> list[Route]:
    """The status page's routes; ``client`` gives the receiver's synchronous Redis client once it exists."""
    token = settings.receiver.metrics_token

    def guard(handler: Callable[[Request], Response]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if not authorized(request, token):
                return refusal("the status page")
            try:
                return await run_in_threadpool(handler, request)
            except EventNotFound as exc:
                return JSONResponse({"error": str(exc)}, 404)
            except (RelayError, redis.RedisError) as exc:
                return JSONResponse({"error": f"status unavailable ({type(exc).__name__})"}, 503)

        return endpoint

    def page(request: Request) -> Response:
        event_id = request.path_params.get("event_id")
        event = event_data(client(), settings, event_id) if event_id else None
        return HTMLResponse(render(status_data(client(), settings), event=event), headers={"Cache-Control": "no-store"})

    def status_json(request: Request) -> Response:
        return JSONResponse(status_data(client(), settings), headers={"Cache-Control": "no-store"})

    def event_json(request: Request) -> Response:
        return JSONResponse(event_data(client(), settings, request.path_params["event_id"]))

    return [
        Route("/status", guard(page), methods=["GET"]),
        Route("/status.json", guard(status_json), methods=["GET"]),
        Route("/status/events/{event_id}.json", guard(event_json), methods=["GET"]),
        Route("/status/events/{event_id}", guard(page), methods=["GET"]),
    ]
