"""CODING's open API (`POST /open-api` with `{"Action": ...}`): errors come back with HTTP 200."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.middleware import CODING_PATH, auth_of
from worker.devtools.sandbox.state import SandboxState
from worker.devtools.sandbox.tokens import IssuedToken
from worker.devtools.sandbox.web import loads_strict

CodingHandler = Callable[[IssuedToken, dict[str, Any]], dict[str, Any]]

SANDBOX_TEAM_ID = 1


def describe_current_user(token: IssuedToken, params: dict[str, Any]) -> dict[str, Any]:
    """Answer `DescribeCodingCurrentUser` for the user owning the token."""
    return {
        "User": {
            "Id": 1,
            "Status": 1,
            "Email": f"{token.user_name}@sandbox.invalid",
            "EmailValidation": 1,
            "GlobalKey": token.user_name,
            "Avatar": "https://coding-net-production-static.example.invalid/avatar.png",
            "Gravatar": "",
            "Name": token.user_name,
            "NamePinYin": token.user_name,
            "Phone": "",
            "PhoneRegionCode": "+86",
            "PhoneValidation": 0,
            "Region": "",
            "TeamId": SANDBOX_TEAM_ID,
            "WeComId": "",
        }
    }


ACTIONS: dict[str, CodingHandler] = {"DescribeCodingCurrentUser": describe_current_user}


def coding_error(code: str, message: str) -> JSONResponse:
    """Build CODING's error answer, which still has HTTP status 200."""
    return JSONResponse({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}})


def coding_routes(state: SandboxState) -> list[BaseRoute]:
    """Return the CODING open API route."""

    async def open_api(request: Request) -> JSONResponse:
        auth = auth_of(request)
        if auth.token is None:
            return coding_error("AuthFailure", f"authentication failed: {auth.reason}")
        raw = await request.body()
        try:
            params = loads_strict(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return coding_error("InvalidParameter", "the request body is not valid JSON")
        if not isinstance(params, dict):
            return coding_error("InvalidParameter", "the request body must be a JSON object")
        name = params.get("Action") or request.query_params.get("Action")
        if not name:
            return coding_error("MissingParameter", "the parameter Action is missing")
        action = ACTIONS.get(name) if isinstance(name, str) else None
        if action is None:
            return coding_error("InvalidAction", f"the action {name!s} does not exist")
        return JSONResponse({"Response": {**action(auth.token, params), "RequestId": str(uuid.uuid4())}})

    return [Route(CODING_PATH, open_api, methods=["POST"])]
