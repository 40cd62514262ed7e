"""Running one action of a rule: render its templates, then call a target or notify a channel.

Rendering is separate from sending so that ``relay rules test`` shows exactly what a real run would send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx

from tasks.templates import Placeholder, render_path, render_text, render_value
from worker.channels import send_notification
from worker.errors import PermanentError, RuleError
from worker.events import ActionResult
from worker.runtime import Runtime
from worker.settings import Action, CallAction, NotifyAction, Rule
from worker.tokens.store import TokenStore

_SCOPE = re.compile(r"[a-z0-9_.-]+(?::[a-z0-9_.-]+)*")
_LEVELS = {"ro": 1, "rw": 2}
SAVED = "saved"  # where a done call's save_as answer is kept on its result
SAVED_LIMIT_BYTES = 64 * 1024  # larger answers are not kept on the event record


@dataclass(frozen=True)
class CallRequest:
    """A call as it will be sent, templates rendered; the client adds the token and the Idempotency-Key."""

    target: str
    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Notification:
    """A message as it will be sent to a channel."""

    channel: str
    text: str


@dataclass(frozen=True)
class PlannedAction:
    """One action of a dry run: what it would send, or why it could not be rendered."""

    index: int
    action: Action
    request: CallRequest | Notification | None
    error: str | None = None


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
    return CallRequest(action.call, action.method, path, query, headers, render_value(action.body, context))


def render_notify(action: NotifyAction, context: dict[str, Any]) -> Notification:
    """Render a notification's text; raises ``RuleError``."""
    return Notification(action.notify, render_text(action.text, context))


def plan_rule(rule: Rule, context: dict[str, Any]) -> list[PlannedAction]:
    """Render every action of ``rule`` without sending; stops at the first one that fails, as a real run would."""
    planned: list[PlannedAction] = []
    for index, action in enumerate(rule.do):
        try:
            request: CallRequest | Notification = (
                render_call(action, context) if isinstance(action, CallAction) else render_notify(action, context)
            )
        except RuleError as exc:
            planned.append(PlannedAction(index, action, None, error=str(exc)))
            break
        if isinstance(action, CallAction) and action.save_as:
            context.setdefault("saved", {})[action.save_as] = Placeholder(f"saved.{action.save_as}")
        planned.append(PlannedAction(index, action, request))
    return planned


def parse_scope(scope: str) -> tuple[str, str | None]:
    """``resource:scope:ro|rw`` as (name, access); access is None for a scope without ``:ro``/``:rw``."""
    text = scope.strip().lower()
    if not _SCOPE.fullmatch(text):
        raise ValueError(f"scope {scope!r} is not of the form resource:scope:ro|rw")
    name, _, access = text.rpartition(":")
    if name and access in _LEVELS:
        return name, access
    return text, None


def missing_scopes(required: Iterable[str], granted: Iterable[str]) -> list[str]:
    """The required scopes that ``granted`` does not cover, in order; ``rw`` implies ``ro``.

    A granted scope without an access suffix counts as ``rw``; a required one as ``ro`` (any access will do).
    Granted scopes Relay cannot read grant nothing; a malformed required scope raises ``ValueError``.
    """
    levels: dict[str, int] = {}
    for scope in granted:
        try:
            name, access = parse_scope(scope)
        except ValueError:
            continue
        levels[name] = max(levels.get(name, 0), _LEVELS[access or "rw"])
    missing: list[str] = []
    for scope in required:
        name, access = parse_scope(scope)
        if levels.get(name, 0) < _LEVELS[access or "ro"] and scope not in missing:
            missing.append(scope)
    return missing


def granted_scopes(runtime: Runtime, target: str) -> set[str] | None:
    """The scopes the target's token is known to grant; None when unknown, which never blocks a call."""
    if not isinstance(runtime.tokens, TokenStore):
        return None
    record = runtime.tokens.find(runtime.settings.token_names[target])
    return set(record.scopes) if record is not None and record.scopes else None


def check_scopes(runtime: Runtime, action: CallAction) -> None:
    """Fail at once, naming the missing scopes, when the target's token is known not to grant them."""
    if not action.requires:
        return
    granted = granted_scopes(runtime, action.call)
    if granted is None:
        return
    try:
        missing = missing_scopes(action.requires, granted)
    except ValueError as exc:
        raise RuleError(f"requires: {exc}") from None
    if missing:
        token = runtime.settings.token_names.get(action.call, action.call)
        raise PermanentError(
            f"{action.call}: token {token!r} does not grant the required scope(s) {', '.join(missing)}"
        )


def run_action(
    runtime: Runtime, action: Action, *, rule: str, index: int, key: str, context: dict[str, Any]
) -> ActionResult:
    """Run ``action`` once; raises a ``TargetError`` or ``RuleError`` when it fails."""
    if isinstance(action, CallAction):
        return _call(runtime, action, rule=rule, index=index, key=key, context=context)
    return _notify(runtime, action, rule=rule, index=index, key=key, context=context)


def _call(
    runtime: Runtime, action: CallAction, *, rule: str, index: int, key: str, context: dict[str, Any]
) -> ActionResult:
    check_scopes(runtime, action)
    request = render_call(action, context)
    result = runtime.client(action.call).call(
        request.method,
        request.path,
        params=request.query or None,
        json=request.body,
        headers=request.headers or None,
        idempotency_key=key,
    )
    detail: dict[str, Any] = {"method": request.method, "path": request.path}
    if action.save_as:
        context.setdefault("saved", {})[action.save_as] = result.body
        # Kept on the result so that a rerun that skips this call still gives later actions its answer.
        if len(json.dumps(result.body, default=str)) <= SAVED_LIMIT_BYTES:
            detail[SAVED] = result.body
    return ActionResult(
        key=key,
        rule=rule,
        index=index,
        kind="call",
        target=action.call,
        ok=True,
        status_code=result.status_code,
        detail=detail,
    )


def _notify(
    runtime: Runtime, action: NotifyAction, *, rule: str, index: int, key: str, context: dict[str, Any]
) -> ActionResult:
    notification = render_notify(action, context)
    config = runtime.settings.channels[action.notify]
    # Tests hand the runtime a MockTransport; production uses the channels' pooled per-process client.
    client = None if runtime.transport is None else httpx.Client(transport=runtime.transport)
    try:
        status = send_notification(
            config,
            notification.text,
            channel=action.notify,
            event=context.get("event"),
            idempotency_key=key,
            client=client,
        )
    finally:
        if client is not None:
            client.close()
    return ActionResult(
        key=key,
        rule=rule,
        index=index,
        kind="notify",
        target=action.notify,
        ok=True,
        status_code=status,
        detail={"channel_kind": config.kind},
    )
