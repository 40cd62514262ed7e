"""The receiver's ASGI app: ``POST /hooks/{source}``, health, readiness and metrics."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

import redis.asyncio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from webhooks import metrics
from webhooks.ingest import Ingestor, count_rejection
from worker import health
from worker.errors import PayloadTooLarge, Rejected, RelayError, StoreError
from worker.queue import TaskMessageEncoder
from worker.redis import async_client, connect, resolve_redis_url
from worker.settings import Settings
from worker.tokens.keys import load_cipher
from worker.tokens.metrics import refresh_expiry_gauge
from worker.tokens.store import TokenStore

log = logging.getLogger("relay.webhooks")

REDIS_CONNECTIONS = 64
# The receiver's connections are named, so that ``CLIENT LIST`` on the server shows whose they are.
REDIS_CLIENT_NAME = "relay-webhooks"


def create_app(settings: Settings, *, redis_url: str | None = None) -> Starlette:
    """Build the receiver for ``settings``; all per-source work (keys, verifiers) is done here, once."""
    from worker.celery_app import EVENTS_QUEUE, PROCESS_EVENT, private_app

    # A blocking pool makes a burst of deliveries wait briefly for a connection instead of failing with 503.
    url = redis_url or resolve_redis_url(settings)
    # The client owns its pool (closing it disconnects the pool); a sentinel:// URL follows the current primary.
    client = async_client(
        url,
        settings,
        max_connections=REDIS_CONNECTIONS,
        timeout=5,
        socket_timeout=5,
        socket_connect_timeout=2,
        client_name=REDIS_CLIENT_NAME,
    )
    # The message template comes from an app built from these settings, not the global one, whose configuration
    # would be loaded from the environment (and fail there when only ``redis_url`` was given).
    encoder = TaskMessageEncoder(private_app(settings, redis_url=url), PROCESS_EVENT, EVENTS_QUEUE)
    ingestor = Ingestor(settings, client, encoder)

    async def receive_hook(request: Request) -> Response:
        name = request.path_params["source"]
        label = name if name in ingestor.sources else metrics.UNKNOWN_SOURCE
        metrics.RECEIVED.labels(label).inc()
        try:
            source = ingestor.source(name)
            body = await _read_body(request, source.config.max_body_bytes)
            headers = _headers(request.scope["headers"])
            peer = request.client.host if request.client else None
            accepted = await ingestor.ingest(source, headers, body, peer=peer)
        except Rejected as exc:
            count_rejection(label, exc)
            return JSONResponse({"error": exc.reason}, status_code=exc.status_code)
        except StoreError as exc:
            metrics.REJECTED.labels(label, "unavailable").inc()
            log.error("source %s: %s", name, exc)
            return JSONResponse({"error": "event could not be stored, retry later"}, status_code=503)
        except ClientDisconnect:
            return Response(status_code=400)
        if accepted.duplicate:
            metrics.DUPLICATES.labels(label).inc()
            return JSONResponse({"event_id": accepted.event_id, "duplicate": True}, status_code=200)
        metrics.ACCEPTED.labels(label).inc()
        return JSONResponse({"event_id": accepted.event_id, "duplicate": False}, status_code=202)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await client.ping()
        except redis.RedisError:
            return JSONResponse({"status": "unavailable", "redis": False}, status_code=503)
        return JSONResponse({"status": "ok", "redis": True})

    admin_client = connect(url, settings)
    token_store = TokenStore(admin_client, lambda: load_cipher(settings.data_dir))

    def metrics_page() -> bytes:
        # Queue, workers and token expiry are read from Redis at scrape time (metadata only, no key needed),
        # so this one endpoint shows the whole system.
        with contextlib.suppress(RelayError, redis.RedisError):
            health.observe(health.snapshot(admin_client, EVENTS_QUEUE))
            refresh_expiry_gauge(token_store, time.time())
        return generate_latest()

    async def prometheus(request: Request) -> Response:
        return Response(await run_in_threadpool(metrics_page), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        try:
            await client.aclose()  # and its pool's connections, which it owns
        finally:
            admin_client.close()

    return Starlette(
        routes=[
            Route("/hooks/{source}", receive_hook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names (lowercase in ASGI) to values; repeated X-Forwarded-For lines are joined, as proxies chain."""
    headers: dict[str, str] = {}
    for key, value in raw:
        name, text = key.decode("latin-1"), value.decode("latin-1")
        if name == "x-forwarded-for" and name in headers:
            text = f"{headers[name]}, {text}"
        headers[name] = text
    return headers


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes ``limit`` (before the rest is read)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
