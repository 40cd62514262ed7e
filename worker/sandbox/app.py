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

from worker.sandbox.admin_services import service_routes
from worker.sandbox.admin_tokens import TOKEN_PREFIXES, token_routes
from worker.sandbox.coding import coding_routes
from worker.sandbox.control import control_routes
from worker.sandbox.forge_control import forge_control_routes
from worker.sandbox.forge_github import github_routes
from worker.sandbox.forge_gitlab import gitlab_routes
from worker.sandbox.middleware import SandboxMiddleware
from worker.sandbox.state import SandboxState, new_state
from worker.sandbox.web import ApiError, error_response


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
    routes: list[BaseRoute] = [*control_routes(state), *coding_routes(state), *service_routes(state)]
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


def create_app(bootstrap_token: str, *, clock: Callable[[], float] = time.time, seed: int | None = None) -> Starlette:
    """Build a sandbox whose admin API accepts `bootstrap_token` (a never-expiring token named "bootstrap").

    `seed` makes faults injected at a `rate` hit the same requests on every run.
    """
    return build_app(new_state(bootstrap_token, clock, seed=seed))
