"""GitHub's REST API, the parts Relay calls, and Gitea's commit statuses (GitHub's shape under ``/api/v1``).

GitHub:
- ``POST /repos/{owner}/{repo}/statuses/{sha}`` (``state``: error, failure, pending, success; ``target_url``,
  ``description`` (at most 140 characters), ``context`` (default ``default``)): 201 with the status. Token:
  ``Authorization: Bearer|token <token>``; a wrong one is 401 ``{"message": "Bad credentials"}``.
- ``GET /rate_limit``: the token's rate limits (not counted against them); a token with an expiry answers it in
  ``GitHub-Authentication-Token-Expiration: 2026-01-31 12:00:00 UTC``.
- ``POST /app/installations/{installation_id}/access_tokens``: authenticated as the App by an RS256 JWT (``iss``:
  the App's id, ``iat``, ``exp`` at most 10 minutes after ``iat``), verified with the App's public key; 201 with
  ``token`` (``ghs_...``) and ``expires_at`` an hour away. An unknown installation is 404.
Gitea (``/api/v1``): ``POST /repos/{owner}/{repo}/statuses/{sha}`` with states pending, success, error, failure,
warning; token in ``Authorization: token|Bearer <token>``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.forge_common import SHA, bearer, json_object, message, optional_str
from worker.devtools.sandbox.forge_state import ForgeState, iso

GITHUB_STATES = frozenset({"error", "failure", "pending", "success"})
GITEA_STATES = frozenset({"pending", "success", "error", "failure", "warning"})
DESCRIPTION_MAX = 140
TOO_LONG = "description is too long (maximum is 140 characters)"
JWT_MAX_SECONDS = 600
CLOCK_DRIFT = 60  # GitHub tolerates some clock drift; its docs suggest iat 60 s in the past
DOCS = "https://docs.github.com/rest"


def github_routes(forges: ForgeState, clock: Callable[[], float]) -> list[BaseRoute]:
    """GitHub's status and installation-token routes, and Gitea's status route, over ``forges``."""

    async def github_status(request: Request) -> JSONResponse:
        if forges.plain_forge(bearer(request, "bearer", "token"), clock()) != "github":
            return message(401, "Bad credentials", documentation_url=DOCS, status="401")
        return await _status(request, forges, clock, "github")

    async def gitea_status(request: Request) -> JSONResponse:
        if forges.plain_forge(bearer(request, "token", "bearer"), clock()) != "gitea":
            return message(401, "token is required")
        return await _status(request, forges, clock, "gitea")

    async def access_tokens(request: Request) -> JSONResponse:
        claims = _app_claims(forges, bearer(request, "bearer"), clock())
        if isinstance(claims, str):
            return message(401, claims, documentation_url=DOCS, status="401")
        raw = request.path_params["installation_id"]
        installation = int(raw) if raw.isascii() and raw.isdigit() else -1
        if installation not in forges.apps[str(claims["iss"])].installations:
            return message(404, "Not Found", documentation_url=DOCS, status="404")
        token, expires = forges.mint_installation_token(installation, clock())
        answer = {"token": token, "expires_at": iso(expires), "permissions": {"statuses": "write", "contents": "read"},
                  "repository_selection": "all"}  # fmt: skip
        return JSONResponse(answer, status_code=201)

    async def rate_limit(request: Request) -> JSONResponse:
        secret = bearer(request, "bearer", "token")
        if forges.plain_forge(secret, clock()) != "github" or secret is None:
            return message(401, "Bad credentials", documentation_url=DOCS, status="401")
        core = {"limit": 5000, "used": 0, "remaining": 5000, "reset": int(clock()) + 3600}
        expiry = forges.expiry(secret)
        headers = {"GitHub-Authentication-Token-Expiration": _utc(expiry)} if expiry is not None else None
        return JSONResponse({"resources": {"core": core}, "rate": core}, headers=headers)

    return [
        Route("/rate_limit", rate_limit, methods=["GET"]),
        Route("/repos/{owner}/{repo}/statuses/{sha}", github_status, methods=["POST"]),
        Route("/app/installations/{installation_id}/access_tokens", access_tokens, methods=["POST"]),
        Route("/api/v1/repos/{owner}/{repo}/statuses/{sha}", gitea_status, methods=["POST"]),
    ]


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _app_claims(forges: ForgeState, token: str | None, now: float) -> dict[str, Any] | str:
    """The JWT's verified claims, or why it is refused (GitHub's messages)."""
    if not token:
        return "A JSON web token could not be decoded"
    try:
        issuer = str(jwt.decode(token, options={"verify_signature": False}).get("iss"))
        app = forges.apps.get(issuer)
        if app is None:
            return "Integration not found"
        # Times are checked below against the sandbox's clock (tests move it), not the machine's.
        claims: dict[str, Any] = jwt.decode(
            token, app.public_key, algorithms=["RS256"],
            options={"require": ["iat", "exp", "iss"], "verify_exp": False, "verify_iat": False},
        )  # fmt: skip
    except jwt.PyJWTError:
        return "A JSON web token could not be decoded"
    return _times_refused(claims, now) or claims


def _times_refused(claims: dict[str, Any], now: float) -> str | None:
    if not isinstance(claims["exp"], int | float) or not isinstance(claims["iat"], int | float):
        return "A JSON web token could not be decoded"
    if claims["exp"] <= now - CLOCK_DRIFT:
        return "'Expiration time' claim ('exp') must be a numeric value representing the future time"
    if claims["exp"] - claims["iat"] > JWT_MAX_SECONDS or claims["exp"] > now + JWT_MAX_SECONDS + CLOCK_DRIFT:
        return "'Expiration time' claim ('exp') is too far in the future"
    if claims["iat"] > now + CLOCK_DRIFT:
        return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
    return None


async def _status(request: Request, forges: ForgeState, clock: Callable[[], float], forge: str) -> JSONResponse:
    states = GITHUB_STATES if forge == "github" else GITEA_STATES
    body = await json_object(request)
    if body is None:
        return message(400, "Problems parsing JSON")
    sha = request.path_params["sha"]
    try:
        fields = {key: optional_str(body, key) for key in ("target_url", "description", "context")}
    except ValueError as exc:
        return message(422, "Validation Failed", errors=[str(exc)])
    if body.get("state") not in states:
        return message(422, "Validation Failed", errors=[{"field": "state", "code": "invalid"}])
    if forge == "github" and len(fields["description"] or "") > DESCRIPTION_MAX:
        error = {"field": "description", "code": "custom", "message": TOO_LONG}
        return message(422, "Validation Failed", errors=[error])
    if not SHA.fullmatch(sha):
        return message(422, f"No commit found for SHA: {sha[:80]}")
    project = f"{request.path_params['owner']}/{request.path_params['repo']}"
    record = {"forge": forge, "project": project, "sha": sha, "state": body["state"],
              "context": fields["context"] or "default", "description": fields["description"],
              "target_url": fields["target_url"]}  # fmt: skip
    with forges.lock:
        forges.statuses.append(record)
        status_id = len(forges.statuses)
    now = iso(clock())
    answer = {"id": status_id, "state": body["state"], "description": fields["description"],
              "target_url": fields["target_url"], "context": record["context"],
              "created_at": now, "updated_at": now}  # fmt: skip
    return JSONResponse(answer, status_code=201)
