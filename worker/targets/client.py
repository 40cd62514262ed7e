"""One client per admin API target: pooled httpx, explicit timeouts, and the failure mapping in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from worker.errors import AuthError, PermanentError, RetryableError
from worker.settings import TargetConfig
from worker.targets.retry import parse_retry_after
from worker.targets.tokens import Credential, TokenSource

USER_AGENT = "relay/0.1 (+webhook automation worker)"


@dataclass(frozen=True)
class CallResult:
    """A successful call: status and parsed JSON body (None when the body is empty or not JSON)."""

    status_code: int
    body: Any


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
    ) -> None:
        self.name = name
        self.config = config
        self.tokens = tokens
        self.token_name = token_name or config.token or name
        self._http = httpx.Client(
            base_url=str(config.base_url).rstrip("/"),
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            verify=config.verify_tls,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.config.kind} {self.config.base_url}>"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> CallResult:
        """Make one call; on 401 re-read the token and retry once if it changed (a rotation happened)."""
        credential = self.tokens.current(self.token_name)
        response = self._send(method, path, credential, params, json, headers, idempotency_key)
        if response.status_code == 401:
            fresh = self.tokens.current(self.token_name)
            if fresh.version != credential.version or fresh.secret != credential.secret:
                credential = fresh
                response = self._send(method, path, credential, params, json, headers, idempotency_key)
        return self._result(response, credential)

    def _send(
        self,
        method: str,
        path: str,
        credential: Credential,
        params: dict[str, Any] | None,
        json: Any,
        headers: dict[str, str] | None,
        idempotency_key: str | None,
    ) -> httpx.Response:
        request_headers = dict(headers or {})
        request_headers.update(self.auth_headers(credential))
        if idempotency_key:
            request_headers["Idempotency-Key"] = idempotency_key
        try:
            return self._http.request(method, path, params=params, json=json, headers=request_headers)
        except httpx.TimeoutException as exc:
            raise RetryableError(f"{self.name}: {method} {path} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"{self.name}: {method} {path} failed ({type(exc).__name__})") from None

    def auth_headers(self, credential: Credential) -> dict[str, str]:
        """Headers that carry the token, as the target's auth mode says."""
        secret = credential.secret.get_secret_value()
        mode = self.config.auth_mode
        if mode == "header":
            return {"X-API-KEY": secret}
        if mode == "cookie":
            return {"Cookie": f"X-API-KEY={secret}"}
        if mode == "basic":
            user = self.config.basic_user or "relay"
            return {"Authorization": httpx.BasicAuth(user, secret)._auth_header}
        return {"Authorization": f"Bearer {secret}"}

    def _result(self, response: httpx.Response, credential: Credential) -> CallResult:
        body = _json_or_none(response)
        status = response.status_code
        where = f"{self.name}: {response.request.method} {response.request.url.path}"
        if status < 400:
            return CallResult(status, body)
        message = redact(f"{where} answered {status}: {error_message(body, response)}", credential)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableError(message, status_code=status, retry_after=retry_after)
        if status in (401, 403):
            raise AuthError(message, status_code=status)
        raise PermanentError(message, status_code=status)


def error_message(body: Any, response: httpx.Response) -> str:
    """The server's own words: API7's ``error_msg`` or ``message``, else a short slice of the body."""
    if isinstance(body, dict):
        for key in ("error_msg", "message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    text = response.text.strip()
    return text[:200] if text else response.reason_phrase or "no body"


def redact(text: str, credential: Credential) -> str:
    """Replace the secret wherever a server echoed it."""
    secret = credential.secret.get_secret_value()
    return text.replace(secret, "***") if secret else text


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
