"""One client per admin API target: pooled httpx, explicit timeouts, and the failure mapping in one place.

Every call sends the target's token (``X-API-KEY`` header or cookie for ``api7``, ``Authorization: Bearer`` or
Basic otherwise), a ``User-Agent`` naming Relay, and the caller's ``Idempotency-Key`` when it has one, all put
together by ``TargetClient.build_request``, which ``relay rules test`` uses too so that its dry run cannot drift from
what is sent. The client never names a target kind: auth headers, error envelopes, how an envelope code is
classified and whether a refusal means the secret is bad come from the kind (``worker.targets.kinds``). What a
failure becomes (``worker.errors``; the status table is ``worker.http_answer.classify``, the code tables in ``kinds``):

    TargetError
    ├── RetryableError   network error or timeout (no status); 429 and 5xx (``retry_after`` from ``Retry-After``,
    │                    delta-seconds or HTTP date); CODING's InternalError, ServiceUnavailable, RequestLimitExceeded;
    │                    ``maybe_applied`` when the request may have reached the server (read/write timeout or
    │                    error, a dropped connection, a 504), False when it surely did not (connect, pool, 429, 5xx)
    └── PermanentError   other 4xx, with the server's message (API7's ``error_msg`` or ``message``); a 3xx (redirects
        │                are not followed: the token must not travel to another address); other CODING codes
        └── AuthError    401/403 after the token re-read below; CODING AuthFailure.* and UnauthorizedOperation.*

``status_code`` on the error is the HTTP status of an error answer; it is None for a network error and for a 2xx
answer whose body cannot be used (``envelopes``, ``api7_tokens``): the server answered, so a write may have happened.

A 401 (or CODING ``AuthFailure``) makes the client read the token again from its ``TokenSource``: when the secret or
version changed (a rotation happened meanwhile) the call is sent once more with the new one; otherwise it is an
``AuthError``. That is the only retry made here: every other retry is the caller's (a Celery retry, delayed by
``retry.backoff_delay``), so a worker never sleeps inside a task. ``AuthError.token_version`` is the version of the
credential the refused request carried (after a re-read, the newer one), so a caller marks exactly that one invalid.

A secret never reaches an exception's text, a log line or a repr: transport errors are reported by type only (their
messages may hold the URL), server messages are scrubbed of every form of the secret that was sent, and exceptions
are raised without a chained cause.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from worker.config import TargetConfig
from worker.errors import AuthError, PermanentError, RetryableError, TargetError
from worker.http_answer import Meaning, classify
from worker.redaction import redact
from worker.targets.caller import CallResult
from worker.targets.kinds import KINDS
from worker.targets.tokens import Credential, TokenSource

USER_AGENT = "Relay/0.1 (webhook-to-admin-API automation worker)"
MAX_MESSAGE_CHARS = 400  # an error message, as recorded on the event
MAX_RAW_CHARS = 4000  # what is read of a server's error body before redaction

log = logging.getLogger("relay.targets")


# Told of each request a client sent: method, HTTP status (None: no answer) and seconds.
CallObserver = Callable[[str, int | None, float], None]


class TargetClient:
    """Calls one admin API with the token named for it; ``transport`` is the seam tests replace."""

    def __init__(
        self,
        name: str,
        config: TargetConfig,
        tokens: TokenSource,
        *,
        token_name: str | None = None,
        transport: httpx.BaseTransport | None = None,
        observe: CallObserver | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.tokens = tokens
        self.observe = observe  # told of every request sent: (method, status or None, seconds), for the metrics
        self.token_name = token_name or config.token or name
        self._http = httpx.Client(
            base_url=str(config.base_url).rstrip("/"),
            # Both always set: httpx's default (5 s for everything) is not what a target's config says.
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            verify=config.verify_tls,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.config.kind} {safe_url(self._http.base_url)}>"

    @property
    def closed(self) -> bool:
        """Whether ``close`` has been called."""
        return self._http.is_closed

    @property
    def timeout(self) -> httpx.Timeout:
        """The timeouts every call uses."""
        return self._http.timeout

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> CallResult:
        """Make one call; on 401 re-read the token and retry once if it changed (a rotation happened)."""
        credential = self.tokens.current(self.token_name)
        sent = [credential]
        kind = KINDS[self.config.kind]
        response = self._send(method, path, credential, params, json, headers, idempotency_key)
        body = _json_or_none(response)
        envelope = kind.error_envelope(body)  # parsed once per answer: the re-read and the failure both read it
        if kind.reread_on(response.status_code, envelope[0] if envelope else None):
            fresh = self.tokens.current(self.token_name)
            if _changed(credential, fresh):
                log.info("%s: token refused, retrying once with its newer version %s", self.name, fresh.version)
                sent.append(fresh)
                response = self._send(method, path, fresh, params, json, headers, idempotency_key)
                body = _json_or_none(response)
                envelope = kind.error_envelope(body)
        failure = self._failure(response, body, envelope, sent)
        if failure is not None:
            raise failure
        return CallResult(response.status_code, body, response.headers)

    def build_request(
        self,
        method: str,
        path: str,
        credential: Credential,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Request:
        """The request a call sends: URL and query, JSON body, every header (token, User-Agent, Idempotency-Key)."""
        # The one place a request is put together: calls send it, and `relay rules test` shows it (token masked).
        # httpx.Headers replaces case-insensitively, so a rule's "x-api-key" cannot travel beside ours.
        request_headers = httpx.Headers(headers or {})
        for name, value in self.auth_headers(credential).items():
            request_headers[name] = value
        if idempotency_key:
            request_headers["Idempotency-Key"] = idempotency_key
        try:
            return self._http.build_request(method, path, params=params, json=json, headers=request_headers)
        except ValueError as exc:  # e.g. text with no UTF-8 form: a lone surrogate carried over from a payload
            reason = exc.reason if isinstance(exc, UnicodeEncodeError) else type(exc).__name__
            raise PermanentError(f"{self.name}: {method} {path}: the request cannot be encoded ({reason})") from None

    def auth_headers(self, credential: Credential) -> dict[str, str]:
        """Headers that carry the token, as the target's auth mode says."""
        return KINDS[self.config.kind].auth_headers(self.config, credential)

    @property
    def _basic_user(self) -> str:
        return self.config.basic_user or "relay"

    def _send(
        self,
        method: str,
        path: str,
        credential: Credential,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        idempotency_key: str | None,
    ) -> httpx.Response:
        request = self.build_request(
            method, path, credential, params=params, json=json, headers=headers, idempotency_key=idempotency_key
        )
        started = time.perf_counter()
        try:
            response = self._http.send(request)
        except httpx.TimeoutException as exc:
            reason = f"timed out ({type(exc).__name__})"
            maybe_applied = _may_have_arrived(exc)
        except httpx.RequestError as exc:
            # The exception's text may hold the URL or a proxy's answer: only its type is reported.
            reason = f"failed ({type(exc).__name__})"
            maybe_applied = _may_have_arrived(exc)
        else:
            elapsed = (time.perf_counter() - started) * 1000
            log.debug("%s: %s %s -> %s in %.0f ms", self.name, method, path, response.status_code, elapsed)
            self._observed(method, response.status_code, started)
            return response
        self._observed(method, None, started)
        # Raised outside the except block, so the transport error is not even the implicit __context__.
        message = self._scrub(f"{self.name}: {method} {path} {reason}", [credential])
        log.debug("%s", message)
        raise RetryableError(message, maybe_applied=maybe_applied)

    def _observed(self, method: str, status_code: int | None, started: float) -> None:
        if self.observe is not None:
            self.observe(method, status_code, time.perf_counter() - started)

    def _failure(
        self, response: httpx.Response, body: Any, envelope: tuple[str, str] | None, sent: list[Credential]
    ) -> TargetError | None:
        status = response.status_code
        kind = KINDS[self.config.kind]
        answer = classify(status, response.headers)
        if envelope is None and answer.meaning == Meaning.SUCCESS:
            return None
        where = f"{self.name}: {response.request.method} {response.request.url.path}"
        code = envelope[0] if envelope is not None else None
        if answer.meaning == Meaning.RETRY:
            message = self._scrub(f"{where} answered {status}: {_detail(envelope, body, response)}", sent)
            return RetryableError(
                message, status_code=status, code=code, retry_after=answer.retry_after,
                maybe_applied=answer.maybe_applied,
            )  # fmt: skip
        if envelope is not None:
            return self._envelope_failure(where, status, envelope, answer.retry_after, sent)
        if answer.meaning == Meaning.REDIRECT:
            location = safe_url(response.headers.get("Location", "")) or "elsewhere"
            text = f"{where} answered {status}: redirect to {location}, not followed (fix the base_url)"
            return PermanentError(self._scrub(text, sent), status_code=status)
        message = self._scrub(f"{where} answered {status}: {_detail(None, body, response)}", sent)
        if answer.meaning == Meaning.AUTH:
            # The last credential sent is the one refused: after a re-read, the newer version.
            refused = kind.refused(status, None)
            return AuthError(message, status_code=status, token_version=sent[-1].version, refused=refused)
        return PermanentError(message, status_code=status)

    def _envelope_failure(
        self, where: str, status: int, envelope: tuple[str, str], retry_after: float | None, sent: list[Credential]
    ) -> TargetError:
        code, text = envelope
        kind = KINDS[self.config.kind]
        message = self._scrub(f"{where} failed with {code}: {text}", sent)
        error_class = kind.classify(code)
        if error_class is RetryableError:
            return RetryableError(message, status_code=status, code=code, retry_after=retry_after)
        if error_class is AuthError:
            # Decided here, once, by the kind: e.g. AuthFailure.* refuses the secret, UnauthorizedOperation.* the act.
            refused = kind.refused(status, code)
            return AuthError(message, status_code=status, code=code, token_version=sent[-1].version, refused=refused)
        return error_class(message, status_code=status, code=code)

    def _scrub(self, text: str, credentials: list[Credential]) -> str:
        # Redact before clipping: a cut could leave the first half of a secret that no longer matches whole.
        secrets = [credential.secret.get_secret_value() for credential in credentials]
        return _clip(redact(text, secrets, basic_user=self._basic_user))


def error_message(body: Any, response: httpx.Response) -> str:
    """The server's own words: API7's ``error_msg`` or ``message``, else the start of the body (not clipped)."""
    if isinstance(body, dict):
        for key in ("error_msg", "message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])[:MAX_RAW_CHARS]
    text = response.text.strip()[:MAX_RAW_CHARS]
    return text or response.reason_phrase or "no body"


def safe_url(url: httpx.URL | str) -> str:
    """The URL without user information or query string (either may carry a credential)."""
    try:
        parsed = httpx.URL(str(url))
    except httpx.InvalidURL:
        return ""
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


def _detail(envelope: tuple[str, str] | None, body: Any, response: httpx.Response) -> str:
    if envelope is not None:
        return f"{envelope[0]}: {envelope[1]}"
    return error_message(body, response)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _changed(old: Credential, new: Credential) -> bool:
    return new.version != old.version or new.secret.get_secret_value() != old.secret.get_secret_value()


def _may_have_arrived(exc: httpx.RequestError) -> bool:
    # Connecting or waiting for a pooled connection: nothing was sent. Reading, writing, a dropped connection: the
    # request (or part of it) may have reached the server, which may have acted on it.
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return False
    return isinstance(
        exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError
    )


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
