"""GitLab's REST API (v4), the parts Relay calls: the token's own record and rotation, and commit statuses.

- ``GET /api/v4/personal_access_tokens/self``: the presented token's record; 401 when it is revoked or expired.
- ``POST /api/v4/personal_access_tokens/self/rotate`` (``expires_at``: a date, default a week from today, at most a
  year): needs the ``api`` or ``self_rotate`` scope; revokes the presented token at once and answers the new one
  (``token``, shown once). Presenting a token a rotation already revoked revokes its whole family and answers 401.
- ``POST /api/v4/projects/:id/statuses/:sha`` (``state``: pending, running, success, failed, canceled, skipped;
  ``name``/``context``, ``target_url``, ``description``, ``ref``): needs the ``api`` scope; 201 with the status.
The token goes in ``PRIVATE-TOKEN`` or ``Authorization: Bearer``; errors are ``{"message": "401 Unauthorized"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.forge_common import SHA, bearer, json_object, message, optional_str
from worker.devtools.sandbox.forge_state import ForgeState, GitLabToken, default_expiry, iso

API = "/api/v4"
STATES = frozenset({"pending", "running", "success", "failed", "canceled", "skipped"})
ROTATE_SCOPES = frozenset({"api", "self_rotate"})
MAX_LIFETIME_DAYS = 365


def _secret(request: Request) -> str | None:
    return request.headers.get("private-token") or bearer(request, "bearer")


def _parse_expiry(raw: Any, now: float) -> date:
    if raw is None:
        return default_expiry(now)
    if not isinstance(raw, str):
        raise ValueError("expires_at is invalid")
    try:
        when = date.fromisoformat(raw)
    except ValueError:
        raise ValueError("expires_at is invalid") from None
    today = datetime.fromtimestamp(now, UTC).date()
    if when <= today or when > today + timedelta(days=MAX_LIFETIME_DAYS):
        raise ValueError(f"expires_at must be after today and within {MAX_LIFETIME_DAYS} days")
    return when


def gitlab_routes(forges: ForgeState, clock: Callable[[], float]) -> list[BaseRoute]:
    """The GitLab routes over ``forges``."""

    def active(request: Request) -> GitLabToken | None:
        token = forges.gitlab_token(_secret(request))
        if token is None or not token.active(clock()):
            return None
        token.last_used_at = clock()
        return token

    async def get_self(request: Request) -> JSONResponse:
        token = active(request)
        return message(401, "401 Unauthorized") if token is None else JSONResponse(token.public())

    async def rotate_self(request: Request) -> JSONResponse:
        presented = forges.gitlab_token(_secret(request))
        if presented is not None and presented.rotated:
            forges.revoke_family(presented.family)  # reuse of a rotated token: the family is compromised
            return message(401, "401 Unauthorized")
        token = active(request)
        if token is None:
            return message(401, "401 Unauthorized")
        if not ROTATE_SCOPES & set(token.scopes):
            return JSONResponse({"error": "insufficient_scope"}, status_code=403)
        body = await json_object(request)
        if body is None:
            return message(400, "400 Bad request - the body must be a JSON object")
        try:
            expires_at = _parse_expiry(body.get("expires_at", request.query_params.get("expires_at")), clock())
        except ValueError as exc:
            return message(400, f"400 Bad request - {exc}")
        new, secret = forges.rotate_gitlab(token, expires_at, clock())
        return JSONResponse({**new.public(), "token": secret})

    async def post_status(request: Request) -> JSONResponse:
        token = active(request)
        if token is None:
            return message(401, "401 Unauthorized")
        if "api" not in token.scopes:
            return JSONResponse({"error": "insufficient_scope"}, status_code=403)
        return await _status(request, forges, clock)

    return [
        Route(f"{API}/personal_access_tokens/self", get_self, methods=["GET"]),
        Route(f"{API}/personal_access_tokens/self/rotate", rotate_self, methods=["POST"]),
        Route(API + "/projects/{project:path}/statuses/{sha}", post_status, methods=["POST"]),
    ]


async def _status(request: Request, forges: ForgeState, clock: Callable[[], float]) -> JSONResponse:
    sha = request.path_params["sha"]
    body = await json_object(request)
    if body is None:
        return message(400, "400 Bad request - the body must be a JSON object")
    state = body.get("state")
    if state not in STATES:
        return message(400, "state does not have a valid value")
    if not SHA.fullmatch(sha):
        return message(404, "404 Commit Not Found")
    try:
        name = optional_str(body, "name") or optional_str(body, "context") or "default"
        fields = {key: optional_str(body, key) for key in ("target_url", "description", "ref")}
    except ValueError as exc:
        return message(400, f"400 Bad request - {exc}")
    now = iso(clock())
    record = {"forge": "gitlab", "project": request.path_params["project"], "sha": sha, "state": state,
              "context": name, "description": fields["description"], "target_url": fields["target_url"]}  # fmt: skip
    with forges.lock:
        forges.statuses.append(record)
        status_id = len(forges.statuses)
    answer = {
        "id": status_id, "sha": sha, "ref": fields["ref"], "status": state, "name": name,
        "target_url": fields["target_url"], "description": fields["description"], "created_at": now,
        "started_at": None, "finished_at": None, "allow_failure": False, "coverage": None,
        "author": {"id": 1, "username": "relay", "name": "Relay", "state": "active"},
    }  # fmt: skip
    return JSONResponse(answer, status_code=201)
