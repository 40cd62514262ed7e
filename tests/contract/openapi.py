"""Check HTTP exchanges with API7 against API7's own OpenAPI description (`api7-admin-api.json`) with openapi-core.

One small openapi-core adapter over httpx, shared by the sandbox's contract tests
(tests/worker/devtools/sandbox/test_contract.py) and the clients' (tests/worker/targets/test_contract.py,
tests/integration/test_targets.py): the sandbox's answers, the requests Relay's clients make and the fake answers
their unit tests give are all held to the same description.

The work-arounds are narrow and all about the description, not about Relay or the sandbox:

- Security is not validated by openapi-core: the file declares a bearer scheme (and a ``basicAuth`` requirement with
  no such scheme defined), while API7 authenticates admin calls with ``X-API-KEY`` (header or cookie). See
  tests/contract/README.md and the project's api7 README. The tests check that header themselves, and the sandbox's
  own tests cover authentication.
- Gateway group operations document 400 (and 500) with ``content: {}``, yet API7 answers them with an error body.
  Such a body is checked against the file's own error shape (``{"error_msg": str}``) instead.
- Newer API7 builds serve the token operations under ``/api/tokens``; such paths are checked as the description's
  ``/api/settings/tokens``.
- A few string schemas (an SSL's ``snis``) carry a ``$ref`` path where a ``pattern`` belongs
  (``"pattern": "../schemas/common.yaml#/Host"``), which no host name matches. Such a pattern is read as the host
  name pattern it points to (``HOST_PATTERN``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.validators import V30RequestBodyValidator, V30RequestParametersValidator
from openapi_core.validation.response.validators import V30ResponseValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict

DESCRIPTION = Path(__file__).resolve().parent / "api7-admin-api.json"
# Newer API7 builds serve the token operations under /api/tokens; the description has /api/settings/tokens.
PATH_ALIASES = {"/api/tokens": "/api/settings/tokens"}
METHODS = ("get", "put", "post", "delete", "patch")
BROKEN_PATTERN_PREFIX = "../schemas/"
HOST_PATTERN = r"^\*?[0-9a-zA-Z-._]+$"


def _fix_patterns(node: Any) -> Any:
    """Return the description with every `$ref`-path-as-pattern read as the host name pattern."""
    if isinstance(node, dict):
        return {
            key: HOST_PATTERN
            if key == "pattern" and isinstance(value, str) and value.startswith(BROKEN_PATTERN_PREFIX)
            else _fix_patterns(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_fix_patterns(item) for item in node]
    return node


@functools.cache
def openapi() -> Any:
    """Load (and check) the vendored description once (it is 1.7 MB)."""
    return OpenAPI.from_dict(_fix_patterns(raw_description()), base_uri=DESCRIPTION.as_uri())


@functools.cache
def raw_description() -> dict[str, Any]:
    """Return the description as plain JSON."""
    data: dict[str, Any] = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    return data


def documented_operations() -> set[tuple[str, str]]:
    """Return every (METHOD, path template) of the description."""
    paths: dict[str, dict[str, Any]] = raw_description()["paths"]
    return {(m.upper(), p) for p, item in paths.items() for m in item if m in METHODS}


def documented_path(path: str) -> str:
    """Return ``path`` as the description spells it."""
    for alias, documented in PATH_ALIASES.items():
        if path == alias or path.startswith(alias + "/"):
            return documented + path[len(alias) :]
    return path


@dataclass
class RawRequest:
    """openapi-core's Request protocol over an httpx request."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters


@dataclass
class RawResponse:
    """openapi-core's Response protocol over an httpx response."""

    status_code: int
    content_type: str
    headers: Headers
    data: bytes | None


def to_request(request: httpx.Request) -> RawRequest:
    """Convert an httpx request (already read)."""
    cookie = SimpleCookie()
    cookie.load(request.headers.get("cookie", ""))
    parameters = RequestParameters(
        query=ImmutableMultiDict(parse_qsl(request.url.query.decode(), keep_blank_values=True)),
        header=Headers(list(request.headers.items())),
        cookie=ImmutableMultiDict({key: morsel.value for key, morsel in cookie.items()}),
    )
    return RawRequest(
        host_url=f"{request.url.scheme}://{request.url.netloc.decode()}",
        path=documented_path(request.url.path),
        method=request.method.lower(),
        body=request.content or None,
        # RFC 9110's default for a body of unknown type, as openapi-core's own integrations assume.
        content_type=request.headers.get("content-type", "application/octet-stream"),
        parameters=parameters,
    )


def to_response(response: httpx.Response) -> RawResponse:
    """Convert an httpx response (already read)."""
    return RawResponse(
        status_code=response.status_code,
        content_type=response.headers.get("content-type", ""),
        headers=Headers(list(response.headers.items())),
        data=response.content or None,
    )


def operation_of(request: httpx.Request) -> dict[str, Any]:
    """Return the description's operation for a request; literal segments beat templated ones, as in routing."""
    method, segments = request.method.lower(), documented_path(request.url.path).strip("/").split("/")
    best: tuple[int, dict[str, Any]] | None = None
    for template, item in raw_description()["paths"].items():
        parts = template.strip("/").split("/")
        if method not in item or len(parts) != len(segments):
            continue
        literal = [p == s for p, s in zip(parts, segments, strict=True)]
        fits = all(same or p.startswith("{") for same, p in zip(literal, parts, strict=True))
        if fits and (best is None or sum(literal) > best[0]):
            best = (sum(literal), item[method])
    if best is None:
        raise LookupError(f"{request.method} {request.url.path} is not in the description")
    return best[1]


def has_empty_content(request: httpx.Request, status: int) -> bool:
    """Tell whether the description documents this status with `content: {}` (no body at all)."""
    responses: dict[str, Any] = operation_of(request)["responses"]
    documented = responses.get(str(status))
    return documented is not None and documented.get("content") == {}


def _describe(error: Exception) -> str:
    cause = error.__cause__
    details = getattr(cause, "schema_errors", None) or cause
    return f"{type(error).__name__}: {error}" + (f" ({details})" if details else "")


def request_errors(request: httpx.Request) -> list[str]:
    """What is wrong with a request's path, parameters and body, per the description (empty when nothing).

    Security is not validated: the description declares a bearer scheme plus a `basicAuth` requirement that names
    no defined scheme, while API7 actually authenticates with X-API-KEY (see the module's docstring).
    """
    spec, raw = openapi().spec, to_request(request)
    errors: list[str] = []
    for validator in (V30RequestParametersValidator(spec), V30RequestBodyValidator(spec)):
        errors.extend(_describe(error) for error in validator.iter_errors(raw))
    return errors


def _error_body_errors(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError as exc:
        return [f"the error body is not JSON: {exc}"]
    if not isinstance(body, dict) or set(body) != {"error_msg"} or not isinstance(body["error_msg"], str):
        return [f'the error body is not {{"error_msg": str}}: {body!r}']
    return []


def response_errors(request: httpx.Request, response: httpx.Response) -> list[str]:
    """What is wrong with a response (already read) to a request, per the description (empty when nothing)."""
    try:
        empty = has_empty_content(request, response.status_code)
    except LookupError:
        empty = False  # openapi-core reports the undocumented path below
    if empty:
        # Defect of the description: gateway group operations document 400 (and 500) with `content: {}`,
        # yet API7 answers them with an error body. Validate that body against the file's own error shape.
        return _error_body_errors(response)
    validator = V30ResponseValidator(openapi().spec)
    return [_describe(error) for error in validator.iter_errors(to_request(request), to_response(response))]


def validate_exchange(response: httpx.Response) -> None:
    """Assert that a request and its response (already read) both follow the description."""
    request = response.request
    errors = request_errors(request)
    if errors:
        raise AssertionError(f"{request.method} {request.url}: request breaks the description: {errors}")
    errors = response_errors(request, response)
    if errors:
        raise AssertionError(
            f"{request.method} {request.url} -> {response.status_code}: response breaks the description: "
            f"{errors}\n{response.text[:2000]}"
        )


class ContractTransport(httpx.BaseTransport):
    """Validates every request (and the answer given) against the description, then returns the answer."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.errors: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer through ``handler``; record what breaks the description."""
        request.read()
        self.requests.append(request)
        where = f"{request.method} {request.url.path}"
        self.errors.extend(f"{where}: request: {error}" for error in request_errors(request))
        response = self.handler(request)
        response.read()
        if response.status_code < 300:
            self.errors.extend(f"{where}: answer: {error}" for error in response_errors(request, response))
        return response


def documented_properties(schema: Mapping[str, Any]) -> set[str]:
    """Return the property names a schema documents, through allOf."""
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= documented_properties(part)
    return names


def schema_at(schema: Mapping[str, Any], *keys: str) -> Iterator[Mapping[str, Any]]:
    """Yield the sub-schemas at a property path, following allOf (list items by `[]`)."""
    if not keys:
        yield schema
        return
    for part in [schema, *schema.get("allOf", [])]:
        if keys[0] == "[]" and "items" in part:
            yield from schema_at(part["items"], *keys[1:])
        elif keys[0] in part.get("properties", {}):
            yield from schema_at(part["properties"][keys[0]], *keys[1:])


def response_fields(method: str, path: str, *keys: str) -> set[str]:
    """Return the documented field names of a 200 response at a property path (e.g. "value")."""
    schema = raw_description()["paths"][path][method.lower()]["responses"]["200"]["content"]["application/json"]
    names: set[str] = set()
    for sub in schema_at(schema["schema"], *keys):
        names |= documented_properties(sub)
    return names
