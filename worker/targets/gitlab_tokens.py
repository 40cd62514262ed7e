"""GitLab's personal access token calls the token lifecycle makes: the token's own record, and self-rotation.

- ``GET /api/v4/personal_access_tokens/self``: id, name, scopes, ``expires_at`` (a date: the token stops working
  at the start of that day, UTC) and ``active``.
- ``POST /api/v4/personal_access_tokens/self/rotate``: a new token (a new id and secret, shown once) and the old one
  revoked at once. Calling it again with the old secret is reuse: GitLab then revokes every token of the family,
  the new one included (gitlab-org/gitlab#524639). So a rotate whose answer was lost is never sent again: the
  caller probes with ``self`` instead (``worker.tokens.rotation``). Nothing here retries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import SecretStr

from worker.errors import PermanentError
from worker.targets.api7_tokens import ApiToken
from worker.targets.caller import Caller

API = "/api/v4/personal_access_tokens/self"
MAX_LIFETIME_DAYS = 365


def expiry_seconds(value: Any) -> int:
    """A GitLab ``expires_at`` date as Unix seconds (midnight UTC that day); 0 when the token never expires."""
    if value is None:
        return 0
    if not isinstance(value, str):
        raise PermanentError("GitLab answered an expires_at that is not a date")
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        raise PermanentError("GitLab answered an expires_at that is not a date") from None
    return int(datetime.combine(day, time(0), UTC).timestamp())


def expiry_date(seconds: int, *, now: float) -> str:
    """Unix seconds as the date GitLab takes, no further than GitLab allows (a year)."""
    latest = datetime.fromtimestamp(now, UTC).date().toordinal() + MAX_LIFETIME_DAYS
    day = datetime.fromtimestamp(seconds, UTC).date()
    return date.fromordinal(min(day.toordinal(), latest)).isoformat()


def _token(body: Any, operation: str) -> ApiToken:
    if not isinstance(body, dict) or not isinstance(body.get("id"), int):
        raise PermanentError(f"GitLab {operation}: the answer is not a token record")
    secret = body.get("token")
    return ApiToken(
        id=str(body["id"]),
        name=str(body.get("name") or ""),
        expires_at=expiry_seconds(body.get("expires_at")),
        token=SecretStr(secret) if isinstance(secret, str) and secret else None,
    )


def current(client: Caller) -> ApiToken:
    """The presented token's own record (no secret)."""
    return _token(client.call("GET", API).body, "personal_access_tokens/self")


def rotate(client: Caller, expires_at: int, *, now: float) -> ApiToken:
    """Rotate the presented token: the new one (with its secret); the old secret is dead from now on."""
    body = {"expires_at": expiry_date(expires_at, now=now)}
    token = _token(client.call("POST", API + "/rotate", json=body).body, "personal_access_tokens/self/rotate")
    if token.token is None:
        # The old secret is already dead: say so loudly rather than return a token-less result.
        raise PermanentError("GitLab rotate answered no secret")
    return token
