"""The ``call`` action kind: a request to a target's admin API, sent by the target's pooled client."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import SecretStr

from tasks.actions.base import Runner, Step, indent
from tasks.templates import Placeholder, render_path, render_text, render_value
from worker.config import CallAction, Settings
from worker.errors import AuthError, RelayError, RuleError
from worker.redaction import MASK
from worker.runtime import Runtime
from worker.store.events import ActionResult
from worker.targets.client import TargetClient
from worker.targets.tokens import Credential
from worker.tokens import scopes
from worker.tokens.lifecycle import report_refused

SAVED = "saved"  # where a done call's save_as answer is kept on its result
SAVED_LIMIT_BYTES = 64 * 1024  # larger answers are not kept on the event record
# What httpx adds to frame the request on the wire (same for every call, not Relay's choice): left out of a preview.
_TRANSPORT_HEADERS = frozenset({"host", "accept-encoding", "connection", "content-length"})
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")  # what an HTTP/1.1 header value may hold, as Relay sends it
_SENSITIVE_HEADER = re.compile(r"authorization|cookie|token|secret|signature|passw|api[-_]?key", re.IGNORECASE)


@dataclass(frozen=True)
class CallRequest:
    """A call as it will be sent, templates rendered; the client adds the token and the Idempotency-Key."""

    target: str
    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any


def render_call(action: CallAction, context: dict[str, Any]) -> CallRequest:
    """Render a call's path, query, headers and body; raises ``RuleError``."""
    path = render_path(action.path, context)
    query = render_value(action.query, context)
    if "?" in path:
        # httpx replaces a URL's query string when ``params`` is given: keep both by merging them here.
        path, _, inline = path.partition("?")
        query = {**dict(parse_qsl(inline, keep_blank_values=True)), **query}
    headers = {str(name): render_text(str(value), context) for name, value in action.headers.items()}
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise RuleError(f"header {name!r}: the rendered value holds a line break")
        if not _HEADER_VALUE.fullmatch(value):
            # Non-ASCII text, NUL or a lone surrogate cannot travel in an HTTP header: no retry would fix it.
            raise RuleError(f"header {name!r}: the rendered value holds characters an HTTP header cannot carry")
    return CallRequest(action.call, action.method, path, query, headers, render_value(action.body, context))


def check_scopes(runtime: Runtime, action: CallAction) -> None:
    """Fail at once, naming the missing scopes, when the target's token is known not to grant them."""
    token_name = runtime.settings.token_names[action.call]
    scopes.require_scopes(runtime.tokens, token_name, target=action.call, required=action.requires)


class CallRunner(Runner[CallAction, CallRequest]):
    """Renders and sends a call; a refused token is reported to the token lifecycle at once."""

    kind = CallAction.kind

    def plan(self, action: CallAction, context: dict[str, Any]) -> CallRequest:
        """Render the call; a ``save_as`` answer is stood in for by a placeholder naming it."""
        request = render_call(action, context)
        if action.save_as:
            context.setdefault("saved", {})[action.save_as] = Placeholder(f"saved.{action.save_as}")
        return request

    def run(self, runtime: Runtime, action: CallAction, step: Step, context: dict[str, Any]) -> ActionResult:
        """Send the call with the step's Idempotency-Key; keep its answer for later actions when ``save_as``."""
        check_scopes(runtime, action)
        request = render_call(action, context)
        try:
            result = runtime.client(action.call).call(
                request.method,
                request.path,
                params=request.query or None,
                json=request.body,
                headers=request.headers or None,
                idempotency_key=step.key,
            )
        except AuthError as exc:
            token_name = runtime.settings.token_names[action.call]
            report_refused(runtime.tokens, runtime.settings, token_name, exc, notifications=runtime.notifications)
            raise
        detail: dict[str, Any] = {"method": request.method, "path": request.path}
        if action.save_as:
            context.setdefault("saved", {})[action.save_as] = result.body
            # Kept on the result so that a rerun that skips this call still gives later actions its answer.
            if len(json.dumps(result.body, default=str)) <= SAVED_LIMIT_BYTES:
                detail[SAVED] = result.body
        return step.result(action, status_code=result.status_code, detail=detail)

    def restore(self, action: CallAction, result: ActionResult, context: dict[str, Any]) -> None:
        """Give later actions the answer a done ``save_as`` call kept, as the first run did."""
        if action.save_as and SAVED in result.detail:
            context.setdefault("saved", {})[action.save_as] = result.detail[SAVED]

    def templates(self, action: CallAction) -> dict[str, Any]:
        """The path, query, headers and body."""
        return {"path": action.path, "query": action.query, "headers": action.headers, "json": action.body}

    def problems(self, action: CallAction) -> Iterator[tuple[str, str]]:
        """Required scopes that are not of the form ``resource:scope:ro|rw``."""
        for scope in action.requires:
            try:
                scopes.parse_scope(scope)
            except ValueError as exc:
                yield "requires", str(exc)

    def preview(
        self, settings: Settings, action: CallAction, request: CallRequest, key: str, context: dict[str, Any]
    ) -> dict[str, Any]:
        """The request exactly as ``TargetClient.build_request`` puts it together for a real call, the token masked."""
        shown = _built_request(settings, request, key)
        return {**shown, "requires": action.requires} if action.requires else shown

    def report_lines(self, entry: dict[str, Any]) -> list[str]:
        """The method and URL, the headers, the body."""
        lines = [f": {entry['method']} {entry['url']}"]
        lines += [f"      {name}: {value}" for name, value in entry["headers"].items()]
        if entry["json"] is not None:
            lines += ["", indent(json.dumps(entry["json"], indent=2, ensure_ascii=False, default=str), 6)]
        return lines


def _built_request(settings: Settings, request: CallRequest, key: str) -> dict[str, Any]:
    # Dry-run placeholders (``<saved.name>``) become their text, as they would print.
    query, body = json.loads(json.dumps([request.query, request.body], default=str))
    placeholder = Credential(SecretStr(MASK))  # a dry run never reads a token
    client = TargetClient(
        request.target, settings.targets[request.target], _NoTokens(), token_name=settings.token_names[request.target]
    )
    try:
        # The same arguments ``CallRunner.run`` gives ``TargetClient.call``.
        built = client.build_request(
            request.method,
            request.path,
            placeholder,
            params=query or None,
            json=body,
            headers=request.headers or None,
            idempotency_key=key,
        )
        auth = {name.lower() for name in client.auth_headers(placeholder)}
    finally:
        client.close()
    headers: dict[str, str] = {}
    for raw_name, raw_value in built.headers.raw:
        name, value = raw_name.decode(built.headers.encoding), raw_value.decode(built.headers.encoding)
        if name.lower() in _TRANSPORT_HEADERS:
            continue
        if name.lower() in auth:
            value = _mask_auth(value)
        elif _SENSITIVE_HEADER.search(name):
            value = MASK
        headers[name] = value
    return {
        "method": built.method,
        "path": request.path,
        "url": str(built.url),
        "query": query,
        "headers": headers,
        "json": body,
    }


def _mask_auth(value: str) -> str:
    # Built with the mask as the secret; Basic auth encodes it along with the user name: show the scheme only.
    return value if MASK in value else f"{value.split(' ')[0]} {MASK}"


class _NoTokens:
    def current(self, name: str) -> Credential:
        raise RelayError("a dry run never reads a token")
