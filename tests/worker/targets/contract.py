"""Check Relay's API7 requests (and the fake answers the unit tests give) against API7's OpenAPI description.

A small openapi-core adapter over httpx. Two narrow work-arounds, both about the description, not about Relay:

- Security is not validated by openapi-core: the file declares a bearer scheme (and a ``basicAuth`` requirement with
  no such scheme defined), while API7 authenticates admin calls with ``X-API-KEY`` (header or cookie). The tests
  check that header themselves.
- Newer API7 builds serve the token operations under ``/api/tokens``; such paths are checked as the description's
  ``/api/settings/tokens``.
"""

from __future__ import annotations

import functools
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.validators import V30RequestBodyValidator, V30RequestParametersValidator
from openapi_core.validation.response.validators import V30ResponseDataValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict

DESCRIPTION = Path(__file__).resolve().parents[2] / "contract" / "api7-admin-api.json"
PATH_ALIASES = {"/api/tokens": "/api/settings/tokens"}


@functools.cache
def description() -> Any:
    """The vendored description, loaded and checked once."""
    return OpenAPI.from_file_path(str(DESCRIPTION))


def documented_path(path: str) -> str:
    """``path`` as the description spells it."""
    for alias, documented in PATH_ALIASES.items():
        if path == alias or path.startswith(alias + "/"):
            return documented + path[len(alias) :]
    return path


class _Request:
    """openapi-core's Request protocol over an httpx request."""

    def __init__(self, request: httpx.Request) -> None:
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(request.headers.get("cookie", ""))
        self.host_url = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.path = documented_path(request.url.path)
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "application/octet-stream")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(request.url.query.decode(), keep_blank_values=True)),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict({key: morsel.value for key, morsel in cookie.items()}),
        )


class _Response:
    """openapi-core's Response protocol over an httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))
        self.data = response.content or None


def request_errors(request: httpx.Request) -> list[str]:
    """What is wrong with a request's path, parameters and body, per the description (empty when nothing)."""
    errors: list[str] = []
    for validator in (V30RequestParametersValidator, V30RequestBodyValidator):
        for error in validator(description().spec).iter_errors(_Request(request)):
            errors.append(_describe(error))
    return errors


def response_errors(request: httpx.Request, response: httpx.Response) -> list[str]:
    """What is wrong with a response's body, per the description (empty when nothing)."""
    validator = V30ResponseDataValidator(description().spec)
    return [_describe(error) for error in validator.iter_errors(_Request(request), _Response(response))]


def _describe(error: Exception) -> str:
    cause = error.__cause__
    details = getattr(cause, "schema_errors", None) or cause
    return f"{type(error).__name__}: {error}" + (f" ({details})" if details else "")


class ContractTransport(httpx.BaseTransport):
    """Validates every request (and the answer given) against the description, then returns the answer."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.errors: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer through ``handler``; record what breaks the description."""
        request.read()
        self.requests.append(request)
        where = f"{request.method} {request.url.path}"
        self.errors.extend(f"{where}: request: {error}" for error in request_errors(request))
        response: httpx.Response = self.handler(request)
        response.read()
        if response.status_code < 300:
            self.errors.extend(f"{where}: answer: {error}" for error in response_errors(request, response))
        return response
