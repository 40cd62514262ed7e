"""Control routes for the forge stand-ins: what a person does in a forge's web settings, and what was set.

- ``POST /_sandbox/forges/gitlab/tokens`` ``{"name", "scopes": [...], "expires_at": "YYYY-MM-DD"}`` -> 201
  ``{"id", "token"}``: a GitLab personal access token (as created in GitLab's user settings).
- ``GET /_sandbox/forges/gitlab/tokens`` -> every GitLab token's record (``revoked``, ``active``; never a secret).
- ``POST /_sandbox/forges/tokens`` ``{"forge": "github"|"gitea", "expires_at": unix seconds}`` -> 201
  ``{"token"}``: a token of that forge (a GitHub token with an expiry answers it in a header).
- ``POST /_sandbox/forges/github/apps`` ``{"app_id", "public_key": PEM, "installations": [id, ...]}`` -> 201.
- ``GET /_sandbox/forges/statuses`` -> every commit status set, oldest first; ``DELETE`` forgets them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.forge_common import json_object, message
from worker.devtools.sandbox.forge_state import ForgeState, GitHubApp, default_expiry

PREFIX = "/_sandbox/forges"


def forge_control_routes(forges: ForgeState, clock: Callable[[], float]) -> list[BaseRoute]:
    """The forge control routes."""

    async def add_gitlab_token(request: Request) -> JSONResponse:
        body = await json_object(request) or {}
        name, scopes, expires = body.get("name", "relay"), body.get("scopes", ["api"]), body.get("expires_at")
        if not isinstance(name, str) or not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            return message(400, "name must be a string and scopes a list of strings")
        try:
            expires_at = date.fromisoformat(expires) if isinstance(expires, str) else default_expiry(clock(), 30)
        except ValueError:
            return message(400, "expires_at must be YYYY-MM-DD")
        token, secret = forges.new_gitlab_token(name, scopes, expires_at, clock())
        return JSONResponse({"id": token.id, "token": secret}, status_code=201)

    async def list_gitlab_tokens(request: Request) -> JSONResponse:
        return JSONResponse([token.public() for token in forges.gitlab.values()])

    async def add_token(request: Request) -> JSONResponse:
        body = await json_object(request) or {}
        expires = body.get("expires_at")
        if body.get("forge") not in ("github", "gitea") or not (expires is None or isinstance(expires, int)):
            return message(400, "forge must be github or gitea, expires_at Unix seconds")
        return JSONResponse({"token": forges.add_plain(str(body["forge"]), expires)}, status_code=201)

    async def add_app(request: Request) -> JSONResponse:
        body = await json_object(request) or {}
        app_id, key, installations = body.get("app_id"), body.get("public_key"), body.get("installations", [])
        if not isinstance(key, str) or not isinstance(installations, list) or app_id is None:
            return message(400, "app_id, public_key (PEM) and installations (ids) are required")
        forges.apps[str(app_id)] = GitHubApp(str(app_id), key, {int(i) for i in installations})
        return JSONResponse({"app_id": str(app_id)}, status_code=201)

    async def statuses(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            with forges.lock:
                count = len(forges.statuses)
                forges.statuses.clear()
            return JSONResponse({"deleted": count})
        return JSONResponse(list(forges.statuses))

    return [
        Route(f"{PREFIX}/gitlab/tokens", add_gitlab_token, methods=["POST"]),
        Route(f"{PREFIX}/gitlab/tokens", list_gitlab_tokens, methods=["GET"]),
        Route(f"{PREFIX}/tokens", add_token, methods=["POST"]),
        Route(f"{PREFIX}/github/apps", add_app, methods=["POST"]),
        Route(f"{PREFIX}/statuses", statuses, methods=["GET", "DELETE"]),
    ]
