"""The sandbox's own control API under /_sandbox (no authentication, never recorded)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.effects import GROUPINGS
from worker.devtools.sandbox.faults import FaultError, parse_faults
from worker.devtools.sandbox.state import SandboxState
from worker.devtools.sandbox.web import error_response, loads_strict


def control_routes(state: SandboxState) -> list[BaseRoute]:
    """Return the /_sandbox routes."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def list_requests(request: Request) -> JSONResponse:
        return JSONResponse(state.recorder.public(request.query_params))

    async def clear_requests(request: Request) -> JSONResponse:
        return JSONResponse({"deleted": state.recorder.clear()})

    async def list_faults(request: Request) -> JSONResponse:
        return JSONResponse(state.faults.public())

    async def add_faults(request: Request) -> JSONResponse:
        try:
            faults = parse_faults(loads_strict(await request.body()))
        except (ValueError, UnicodeDecodeError) as exc:
            # FaultError is a ValueError too, as is malformed JSON.
            message = str(exc) if isinstance(exc, FaultError) else f"invalid JSON body: {exc}"
            return error_response(400, message)
        state.faults.add(faults)
        return JSONResponse(state.faults.public(), status_code=201)

    async def clear_faults(request: Request) -> JSONResponse:
        return JSONResponse({"deleted": state.faults.clear()})

    async def list_effects(request: Request) -> JSONResponse:
        query = request.query_params
        by = query.get("by", "idempotency_key")
        if by not in GROUPINGS:
            return error_response(400, f"by must be one of {', '.join(GROUPINGS)}")
        method = query.get("method")
        counts = state.effects.public(by, path=query.get("path", ""), method=method.upper() if method else None)
        return JSONResponse(counts)

    async def clear_effects(request: Request) -> JSONResponse:
        return JSONResponse({"deleted": state.effects.clear()})

    return [
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/requests", list_requests, methods=["GET"]),
        Route("/_sandbox/requests", clear_requests, methods=["DELETE"]),
        Route("/_sandbox/faults", list_faults, methods=["GET"]),
        Route("/_sandbox/faults", add_faults, methods=["POST"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/effects", list_effects, methods=["GET"]),
        Route("/_sandbox/effects", clear_effects, methods=["DELETE"]),
    ]
