"""What happens around every non-control request: recording, faults, authentication, counting effects."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.devtools.sandbox.effects import is_effect
from worker.devtools.sandbox.faults import Fault
from worker.devtools.sandbox.recorder import RequestRecord, body_json, safe_headers, safe_query
from worker.devtools.sandbox.state import SandboxState
from worker.devtools.sandbox.tokens import AuthResult

CONTROL_PREFIX = "/_sandbox"
CODING_PATH = "/open-api"
# The forge stand-ins (GitLab, GitHub, Gitea) check their own tokens, as the forges do.
FORGE_PREFIXES = ("/api/v4/", "/api/v1/", "/repos/", "/app/", "/rate_limit")
AUTH_SCOPE_KEY = "relay.sandbox.auth"
MAX_BODY_BYTES = 4 * 1024 * 1024


def auth_of(request: Request) -> AuthResult:
    """Return how the middleware authenticated this request."""
    result = request.scope.get(AUTH_SCOPE_KEY)
    return result if isinstance(result, AuthResult) else AuthResult(None, False, "not authenticated")


def admin_secret(request: Request) -> str | None:
    """Return the API key as API7/APISIX take it: header, then cookie, then `api_key` query."""
    return (
        request.headers.get("x-api-key")
        or request.cookies.get("X-API-KEY")
        or request.query_params.get("api_key")
        or None
    )


def coding_secret(request: Request) -> str | None:
    """Return the secret of `Authorization: Bearer|token <secret>` or Basic (the password)."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() in ("bearer", "token"):
        return value or None
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return value  # not valid Basic: check it as is, so it fails as an invalid key
        return decoded.partition(":")[2] or None
    return None


class BodyTooLargeError(Exception):
    """The request body exceeds MAX_BODY_BYTES."""


async def read_body(receive: Receive) -> bytes:
    """Read the whole request body."""
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(chunks)
        chunks.extend(message.get("body", b""))
        if len(chunks) > MAX_BODY_BYTES:
            raise BodyTooLargeError
        if not message.get("more_body", False):
            return bytes(chunks)


class SandboxMiddleware:
    """Pure ASGI middleware, so the request body is read once and handed on unchanged."""

    def __init__(self, app: ASGIApp, *, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        coding = scope["path"] == CODING_PATH
        forge = scope["path"].startswith(FORGE_PREFIXES)
        if forge:
            auth = AuthResult(None, False, "a forge route: it checks the forge's own token")
        else:
            auth = self.state.tokens.authenticate(coding_secret(request) if coding else admin_secret(request))
        scope[AUTH_SCOPE_KEY] = auth
        record = RequestRecord(
            method=scope["method"],
            path=scope["path"],
            query=safe_query(request.query_params),
            headers=safe_headers(request.headers),
            json=None,
            authenticated=auth.ok,
            token_id=auth.token.id if auth.token else None,
            idempotency_key=request.headers.get("idempotency-key") or None,
            time=self.state.clock(),
        )
        started = time.perf_counter()
        try:
            record.status = await self._handle(scope, receive, send, auth, record, coding=coding, forge=forge)
        except asyncio.CancelledError:
            record.status = 499  # the client went away (nginx's "client closed request")
            raise
        except Exception:
            record.status = 500
            raise
        finally:
            record.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            self.state.recorder.add(record)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        auth: AuthResult,
        record: RequestRecord,
        *,
        coding: bool,
        forge: bool = False,
    ) -> int:
        try:
            body = await read_body(receive)
        except BodyTooLargeError:
            return await _answer(scope, receive, send, 413, f"request body exceeds {MAX_BODY_BYTES} bytes")
        record.json = body_json(body)
        fault = self.state.faults.take(record.method, record.path)
        if fault is not None:
            record.fault = fault.public()
        if fault is not None and fault.when == "before":
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.status is not None:
                return await _fault_answer(scope, receive, send, fault)
            fault = None
        if not (coding or forge) and not auth.ok:
            return await _answer(scope, receive, send, 401, auth.reason)
        if auth.token is not None:
            self.state.tokens.touch(auth.token.id)
        # No Idempotency-Key cache: API7 documents no such header, so a repeated write applies twice, as there.
        status = await self._run(scope, body, receive, send, record, after=fault, coding=coding)
        if fault is not None and fault.status is not None:
            # The write took effect, but the client is told it failed: its outcome is unknown to the caller.
            return await _fault_answer(scope, receive, send, fault)
        return status

    async def _run(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        record: RequestRecord,
        *,
        after: Fault | None,
        coding: bool,
    ) -> int:
        """Run the routes; count a write that took effect; apply an "after" fault to the answer."""
        status = 500  # what an app that never answers amounts to
        body_sent = False
        swallow = after is not None and after.status is not None

        async def replay_receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self._count_effect(record, status, scope, coding=coding)
                if after is not None and after.latency_ms:
                    # Counted before the delay: a client that times out meanwhile does not undo the write.
                    await asyncio.sleep(after.latency_ms / 1000)
            if not swallow:
                await send(message)

        await self.app(scope, replay_receive, capture_send)
        return status

    def _count_effect(self, record: RequestRecord, status: int, scope: Scope, *, coding: bool) -> None:
        # CODING's only action is a read, and its errors come back with HTTP 200: nothing to count there.
        if not coding and is_effect(record.method, status, record.query, scope):
            record.effect = True
            self.state.effects.add(record.method, record.path, record.idempotency_key)


async def _fault_answer(scope: Scope, receive: Receive, send: Send, fault: Fault) -> int:
    assert fault.status is not None
    retry = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
    return await _answer(scope, receive, send, fault.status, "sandbox fault injected", retry)


async def _answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> int:
    payload: dict[str, Any] = {"error_msg": message}
    await JSONResponse(payload, status_code=status, headers=headers)(scope, receive, send)
    return status
