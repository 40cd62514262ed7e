"""GitHub App installation tokens: minted on demand with the App's key, cached, renewed before their hour ends.

A ``github`` target with ``app_id`` and ``installation_id`` keeps the App's private key (PEM) in the token store
under its token name. Whoever asks that name for a credential gets an installation token instead, minted with
``POST /app/installations/{installation_id}/access_tokens`` and a 9-minute RS256 JWT (``iss``: the App id) signed
with the key. A token lives an hour (GitHub's ``expires_at``); a new one is minted once two thirds of its life
have passed (cert-manager's rule), so a call never carries one about to die. Installation tokens exist only in
this process's memory; they are registered with the log masking the moment they arrive and never stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
import jwt
from pydantic import SecretStr

from worker.config import Settings, TargetConfig
from worker.errors import PermanentError
from worker.ops.logs import register_secret
from worker.targets.tokens import Credential, TokenSource
from worker.tokens import admin

JWT_SECONDS = 540  # GitHub refuses an App JWT that lives more than 10 minutes
CLOCK_DRIFT = 60  # iat a minute in the past, as GitHub's docs advise against clock drift
RENEW_AT = 2 / 3


@dataclass(frozen=True)
class Installation:
    """A minted installation token, when it was minted and when GitHub says it expires (Unix seconds)."""

    token: SecretStr
    issued_at: float
    expires_at: float
    key_version: int

    def fresh(self, now: float) -> bool:
        """Whether it is still in the first two thirds of its life."""
        return now < self.issued_at + (self.expires_at - self.issued_at) * RENEW_AT


def app_jwt(app_id: str, private_key: str, now: float) -> str:
    """The App's JWT (RS256) that authenticates the minting call."""
    claims = {"iat": int(now - CLOCK_DRIFT), "exp": int(now + JWT_SECONDS), "iss": app_id}
    try:
        return jwt.encode(claims, private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError):
        # Never the key's text: only that it is not a usable RSA private key.
        raise PermanentError("the stored GitHub App key is not an RSA private key in PEM") from None


def mint(
    target: str,
    config: TargetConfig,
    key: Credential,
    *,
    now: float,
    transport: httpx.BaseTransport | None = None,
) -> Installation:
    """Mint an installation token (``TargetError`` as any admin API call; a refused key is an ``AuthError``)."""
    assert config.app_id is not None
    assert config.installation_id is not None
    token = app_jwt(config.app_id, key.secret.get_secret_value(), now)
    path = f"/app/installations/{config.installation_id}/access_tokens"
    with admin.client_for(target, config, Credential(SecretStr(token), key.version), transport) as client:
        body = client.call("POST", path).body
    secret, expires = (body.get("token"), body.get("expires_at")) if isinstance(body, dict) else (None, None)
    if not isinstance(secret, str) or not secret or not isinstance(expires, str):
        raise PermanentError(f"{target}: GitHub answered no installation token")
    register_secret(secret)
    try:
        expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise PermanentError(f"{target}: GitHub answered an expires_at that is not a time") from None
    return Installation(SecretStr(secret), now, expires_at, key.version)


class AppTokens:
    """A ``TokenSource``: installation tokens for the App targets' token names, the inner source for the rest."""

    def __init__(
        self,
        inner: TokenSource,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.apps = app_targets(settings)
        self.transport = transport
        self.clock = clock
        self._cache: dict[str, Installation] = {}
        self._lock = threading.Lock()

    def current(self, name: str) -> Credential:
        """An installation token for an App's token name (minted or renewed as needed); else the inner credential."""
        key = self.inner.current(name)
        app = self.apps.get(name)
        if app is None:
            return key
        with self._lock:
            cached = self._cache.get(name)
            if cached is None or cached.key_version != key.version or not cached.fresh(self.clock()):
                cached = mint(app[0], app[1], key, now=self.clock(), transport=self.transport)
                self._cache[name] = cached
        return Credential(cached.token, key.version)

    def close(self) -> None:
        """Close the inner source when it has resources of its own."""
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def app_targets(settings: Settings) -> dict[str, tuple[str, TargetConfig]]:
    """Token name to (target, config) of every GitHub App target."""
    return {
        settings.token_names[name]: (name, config)
        for name, config in settings.targets.items()
        if config.kind == "github" and config.app_id is not None
    }


def with_app_tokens(inner: TokenSource, settings: Settings) -> TokenSource:
    """``inner``, wrapped in ``AppTokens`` when some target is a GitHub App."""
    return AppTokens(inner, settings) if app_targets(settings) else inner
