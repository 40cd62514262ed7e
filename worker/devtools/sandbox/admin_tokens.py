"""Token operations (tag 令牌) of the admin API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.state import SandboxState
from worker.devtools.sandbox.tokens import IssuedToken, validate_name
from worker.devtools.sandbox.web import (
    bad_request,
    list_envelope,
    paginate,
    parse_list_query,
    path_id,
    read_object,
    require_timestamp,
    value_envelope,
)

# The description's path; newer API7 builds serve the same operations under /api/tokens.
TOKEN_PREFIXES = ("/api/settings/tokens", "/api/tokens")
TOKEN_ORDER = ("created_at", "updated_at", "expires_at")


def _with_secret(record: IssuedToken, secret: str) -> JSONResponse:
    # Only create and regenerate answer the secret: it is shown once.
    return JSONResponse(value_envelope({**record.public(), "token": secret}))


def token_routes(state: SandboxState, prefix: str) -> list[BaseRoute]:
    """Return the token routes under one path prefix."""
    tokens = state.tokens

    def now() -> int:
        return int(state.clock())

    async def create(request: Request) -> JSONResponse:
        body = await read_object(request)
        name = validate_name(body)
        expires_at = require_timestamp(body, "expires_at", now=now())
        record, secret = tokens.create(name, expires_at)
        return _with_secret(record, secret)

    async def list_tokens(request: Request) -> JSONResponse:
        query = parse_list_query(request.query_params, order_fields=TOKEN_ORDER, default_order="created_at")
        total, page = paginate(tokens.all(), query, lambda t, search: search in t.name.lower())
        return JSONResponse(list_envelope(total, [t.public() for t in page]))

    async def check_name(request: Request) -> JSONResponse:
        name = request.query_params.get("name")
        if name is None:
            raise bad_request("name is required")
        return JSONResponse(value_envelope({"exist": tokens.name_exists(name)}))

    async def get_token(request: Request) -> JSONResponse:
        return JSONResponse(value_envelope(tokens.get(path_id(request, "token_id")).public()))

    async def update(request: Request) -> JSONResponse:
        token_id = path_id(request, "token_id")
        tokens.get(token_id)
        name = validate_name(await read_object(request))
        return JSONResponse(value_envelope(tokens.rename(token_id, name).public()))

    async def delete(request: Request) -> JSONResponse:
        return JSONResponse(value_envelope(tokens.delete(path_id(request, "token_id")).public()))

    async def regenerate(request: Request) -> JSONResponse:
        token_id = path_id(request, "token_id")
        tokens.get(token_id)
        expires_at = require_timestamp(await read_object(request), "expires_at", now=now())
        record, secret = tokens.regenerate(token_id, expires_at)
        return _with_secret(record, secret)

    one = prefix + "/{token_id}"
    return [
        Route(prefix, create, methods=["POST"]),
        Route(prefix, list_tokens, methods=["GET"]),
        Route(prefix + "/check_name", check_name, methods=["GET"]),
        Route(one, get_token, methods=["GET"]),
        Route(one, update, methods=["PUT"]),
        Route(one, delete, methods=["DELETE"]),
        Route(one + "/regenerate", regenerate, methods=["PUT"]),
    ]
