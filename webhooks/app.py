"""The receiver's ASGI app: ``POST /hooks/{source}``, health, readiness and metrics."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from webhooks import metrics, statuspage
from webhooks.acceptlog import AcceptedLog
from webhooks.ingest import Accepted, Ingestor, count_rejection
from webhooks.network import check_allowed
from webhooks.operator_auth import authorized, refusal
from webhooks.ratelimit import RateLimited, TokenBucket
from webhooks.sources import Verifier
from worker.config import Settings
from worker.errors import PayloadTooLarge, Rejected, RelayError, StoreError
from worker.ops import health, stats
from worker.store.connection import async_client, connect, resolve_redis_url
from worker.store.messages import TaskMessageEncoder
from worker.tokens.keys import load_cipher
from worker.tokens.metrics import refresh_expiry_gauge
from worker.tokens.store import TokenStore

log = logging.getLogger("relay.webhooks")

REDIS_CONNECTIONS = 64
# The receiver's connections are named, so that ``CLIENT LIST`` on the server shows whose they are.
REDIS_CLIENT_NAME = "relay-webhooks"


@dataclass
class _Wiring:
    """Per-process resources, built in the lifespan (not at import or create_app time) and closed there."""

    client: redis.asyncio.Redis | None = None
    admin_client: redis.Redis | None = None
    ingestor: Ingestor | None = None


def create_app(settings: Settings, *, redis_url: str | None = None) -> Starlette:
    """Build the receiver for ``settings``; its Redis pool and stores are made in the app's lifespan."""
    url = redis_url or resolve_redis_url(settings)
    # Sources are checked now (a bad key fails create_app, not the first delivery); Redis is connected at startup.
    verifiers = Ingestor.check_sources(settings)
    wiring = _Wiring()
    # A bucket only where a rate is configured: by default no sender is refused for its rate (README: Limits).
    buckets = {
        name: TokenBucket(config.rate_per_second, config.burst)
        for name, config in settings.sources.items()
        if config.rate_per_second is not None
    }
    hook = _hook(wiring, buckets)
    routes = [
        Route("/hooks/{source}", _route_endpoint(hook), methods=["POST"]),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz_endpoint(wiring), methods=["GET"]),
        Route("/metrics", _metrics_endpoint(wiring, settings), methods=["GET"]),
        # The status page is served where /metrics is, behind the same token.
        *statuspage.routes(lambda: _admin_client(wiring), settings),
    ]
    # redirect_slashes off: Starlette's redirect builds its Location from the Host header (an open redirect).
    router = Router(routes=routes, redirect_slashes=False, lifespan=_lifespan(wiring, settings, url, verifiers))
    app = _Receiver(hook, exception_handlers={HTTPException: _http_error})
    app.router = router
    return app


HOOK_PREFIX = "/hooks/"


@dataclass(frozen=True, slots=True)
class HookReply:
    """A JSON answer to a delivery: status, body and any extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


Hook = Callable[[Any, Any, str], Awaitable[HookReply]]
_INTERNAL_ERROR = HookReply(500, b'{"error":"internal error"}')


class _Receiver(Starlette):
    """Starlette, with ``POST /hooks/{source}`` served directly instead of through its middleware and router.

    The hot path: the route table, the exception middleware, the per-request ``Request`` and ``Response`` objects
    cost about as much as ingesting the delivery. Everything else (other paths and methods, a source name with a
    slash, lifespan) goes through Starlette as before; the route of ``POST /hooks/{source}`` serves the same hook.
    """

    def __init__(self, hook: Hook, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hook = hook

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve a delivery directly; anything else as Starlette would."""
        path = scope.get("path", "") if scope["type"] == "http" and scope.get("method") == "POST" else ""
        source = path[len(HOOK_PREFIX) :] if path.startswith(HOOK_PREFIX) else ""
        if not source or "/" in source:
            await super().__call__(scope, receive, send)
            return
        try:
            answer = await self._hook(scope, receive, source)
        except Exception:
            # What Starlette's ServerErrorMiddleware would do: log it and answer 500 (the body says no more).
            log.exception("unexpected error in POST %s", path)
            answer = _INTERNAL_ERROR
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer.body))]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers + list(answer.headers)})
        await send({"type": "http.response.body", "body": answer.body})


def _route_endpoint(hook: Hook) -> Callable[[Request], Awaitable[Response]]:
    """The hook as a Starlette endpoint, for the router's ``POST /hooks/{source}`` (the same answers)."""

    async def endpoint(request: Request) -> Response:
        answer = await hook(request.scope, request.receive, request.path_params["source"])
        response = Response(answer.body, answer.status, media_type="application/json")
        response.raw_headers += list(answer.headers)
        return response

    return endpoint


def _lifespan(
    wiring: _Wiring, settings: Settings, url: str, verifiers: dict[str, Verifier]
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    from worker.celery_app import EVENTS_QUEUE, PROCESS_EVENT, private_app

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        # A blocking pool makes a burst of deliveries wait briefly for a connection instead of failing with 503.
        # The client owns its pool (closing it disconnects the pool); a sentinel:// URL follows the current primary.
        wiring.client = async_client(
            url,
            settings,
            max_connections=REDIS_CONNECTIONS,
            timeout=5,
            socket_timeout=5,
            socket_connect_timeout=2,
            client_name=REDIS_CLIENT_NAME,
        )
        wiring.admin_client = connect(url, settings)
        # The message template comes from an app built from these settings, not the global one, whose
        # configuration would be loaded from the environment (and fail there when only ``redis_url`` was given).
        encoder = TaskMessageEncoder(private_app(settings, redis_url=url), PROCESS_EVENT, EVENTS_QUEUE)
        wiring.ingestor = Ingestor(settings, wiring.client, encoder, verifiers=verifiers)
        try:
            yield
        finally:
            try:
                await wiring.client.aclose()  # and its pool's connections, which it owns
            finally:
                wiring.admin_client.close()

    return lifespan


def _hook(wiring: _Wiring, buckets: dict[str, TokenBucket]) -> Hook:
    accepted_log = AcceptedLog(log)

    async def receive_hook(scope: Any, receive: Any, name: str) -> HookReply:
        assert wiring.ingestor is not None  # set by the lifespan before any request is served
        ingestor = wiring.ingestor
        label = name if name in ingestor.sources else metrics.UNKNOWN_SOURCE
        counters = metrics.counters(label)
        counters.received.inc()
        try:
            accepted = await _receive(ingestor, buckets, scope, receive, name)
        except Rejected as exc:
            count_rejection(label, exc)
            log.info("delivery refused", extra={"source": label, "status": exc.status_code, "reason": exc.reason})
            extra = ((b"retry-after", str(exc.retry_after).encode()),) if isinstance(exc, RateLimited) else ()
            return HookReply(exc.status_code, orjson.dumps({"error": exc.reason}), extra)
        except StoreError as exc:
            metrics.REJECTED.labels(label, "unavailable").inc()
            log.error("source %s: %s", name, exc)
            return HookReply(503, b'{"error":"event could not be stored, retry later"}')
        except ClientDisconnect:
            return HookReply(400, b'{"error":"client disconnected before the body was read"}')
        accepted_log.note(label, accepted.event_id, duplicate=accepted.duplicate)
        (counters.duplicates if accepted.duplicate else counters.accepted).inc()
        body = orjson.dumps({"event_id": accepted.event_id, "duplicate": accepted.duplicate})
        return HookReply(200 if accepted.duplicate else 202, body)

    return receive_hook


async def _receive(
    ingestor: Ingestor, buckets: dict[str, TokenBucket], scope: Any, receive: Any, name: str
) -> Accepted:
    source = ingestor.source(name)
    headers = _headers(scope["headers"])
    client = scope.get("client")
    # The allowlist and the rate limit come before the body is read: a refused sender costs no buffering.
    check_allowed(source.config, client[0] if client else None, headers.get("x-forwarded-for"))
    bucket = buckets.get(name)
    if bucket is not None:
        bucket.take(name)
    body = await _read_body(receive, headers.get("content-length"), source.config.max_body_bytes)
    return await ingestor.ingest(source, headers, body)


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _readyz_endpoint(wiring: _Wiring) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(request: Request) -> Response:
        try:
            assert wiring.client is not None
            await wiring.client.ping()
        except redis.RedisError:
            return JSONResponse({"ready": False, "status": "unavailable", "redis": False}, status_code=503)
        return JSONResponse({"ready": True, "status": "ok", "redis": True})

    return readyz


def _metrics_endpoint(wiring: _Wiring, settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    from worker.celery_app import EVENTS_QUEUE

    token = settings.receiver.metrics_token

    def metrics_page() -> bytes:
        # Queue, workers and token expiry are read from Redis at scrape time (metadata only, no key needed),
        # so this one endpoint shows the whole system.
        assert wiring.admin_client is not None
        with contextlib.suppress(RelayError, redis.RedisError):
            health.observe(health.snapshot(wiring.admin_client, EVENTS_QUEUE))
            store = TokenStore(wiring.admin_client, lambda: load_cipher(settings.data_dir))
            refresh_expiry_gauge(store, time.time())
        # What workers count is kept in Redis (worker.ops.stats): read at scrape time, whatever runs where.
        workers = CollectorRegistry()
        workers.register(stats.RedisStatsCollector(wiring.admin_client))
        return generate_latest() + generate_latest(workers)

    async def prometheus(request: Request) -> Response:
        if not authorized(request, token):
            return refusal("/metrics")
        return Response(await run_in_threadpool(metrics_page), media_type=CONTENT_TYPE_LATEST)

    return prometheus


def _admin_client(wiring: _Wiring) -> redis.Redis:
    assert wiring.admin_client is not None  # built in the lifespan, before any request
    return wiring.admin_client


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods answer JSON like every other refusal, not Starlette's plain text."""
    assert isinstance(exc, HTTPException)
    reasons = {404: f"no route {request.url.path}", 405: f"method {request.method} not allowed here"}
    reason = reasons.get(exc.status_code, str(exc.detail))
    return JSONResponse({"error": reason}, status_code=exc.status_code, headers=exc.headers)


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names (lowercase in ASGI) to values; repeated X-Forwarded-For lines are joined, as proxies chain."""
    headers: dict[str, str] = {}
    for key, value in raw:
        name, text = key.decode("latin-1"), value.decode("latin-1")
        if name == "x-forwarded-for" and name in headers:
            text = f"{headers[name]}, {text}"
        headers[name] = text
    return headers


async def _read_body(receive: Any, declared: str | None, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes ``limit`` (before the rest is read)."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
