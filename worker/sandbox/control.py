"""The sandbox's own control API under /_sandbox (no authentication, never recorded)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.sandbox.faults import FaultError, parse_faults
from worker.sandbox.state import SandboxState
from worker.sandbox.web import error_response, loads_strict


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

    return [
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/requests", list_requests, methods=["GET"]),
        Route("/_sandbox/requests", clear_requests, methods=["DELETE"]),
        Route("/_sandbox/faults", list_faults, methods=["GET"]),
        Route("/_sandbox/faults", add_faults, methods=["POST"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
    ]
