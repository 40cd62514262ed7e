"""The sandbox ASGI application: routes, error bodies and the middleware around them."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from worker.devtools.sandbox.admin_runtime import runtime_routes
from worker.devtools.sandbox.admin_services import group_routes, service_routes
from worker.devtools.sandbox.admin_tokens import TOKEN_PREFIXES, token_routes
from worker.devtools.sandbox.admin_v32 import v32_routes
from worker.devtools.sandbox.coding import coding_routes
from worker.devtools.sandbox.control import control_routes
from worker.devtools.sandbox.control_groups import group_control_routes
from worker.devtools.sandbox.forge_control import forge_control_routes
from worker.devtools.sandbox.forge_github import github_routes
from worker.devtools.sandbox.forge_gitlab import gitlab_routes
from worker.devtools.sandbox.middleware import SandboxMiddleware
from worker.devtools.sandbox.state import SandboxState, new_state
from worker.devtools.sandbox.versions import DEFAULT_VERSION
from worker.devtools.sandbox.web import ApiError, error_response


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    # A bug in the sandbox still answers in the admin API's error format.
    return error_response(500, f"sandbox internal error: {type(exc).__name__}")


def build_app(state: SandboxState) -> Starlette:
    """Build the ASGI app around an existing state (tests use it to inspect the state)."""
    routes: list[BaseRoute] = [*control_routes(state), *group_control_routes(state), *coding_routes(state)]
    routes.extend(group_routes(state))
    if state.runtime_api:
        routes.extend(runtime_routes(state))
    else:
        routes.extend([*service_routes(state), *v32_routes(state)])
    # GitLab's, GitHub's and Gitea's endpoints Relay calls, whichever API7 version the sandbox plays.
    routes += [*forge_control_routes(state.forges, state.clock), *gitlab_routes(state.forges, state.clock)]
    routes += github_routes(state.forges, state.clock)
    for prefix in TOKEN_PREFIXES:
        routes.extend(token_routes(state, prefix))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SandboxMiddleware, state=state)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.sandbox = state
    return app


def create_app(
    bootstrap_token: str,
    *,
    clock: Callable[[], float] = time.time,
    seed: int | None = None,
    api7_version: str = DEFAULT_VERSION,
    default_page_size: int | None = None,
) -> Starlette:
    """Build a sandbox whose admin API accepts `bootstrap_token` (a never-expiring token named "bootstrap").

    `seed` makes faults injected at a `rate` hit the same requests on every run; `api7_version` chooses the
    generation of API7's admin API it serves (3.2.x: templates and publishing; 3.5.0 and later: runtime resources);
    `default_page_size` pages resource lists asked without `page_size` (by default they answer everything).
    """
    state = new_state(bootstrap_token, clock, seed=seed, api7_version=api7_version, default_page_size=default_page_size)
    return build_app(state)
