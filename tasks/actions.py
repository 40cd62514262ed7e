"""Running one action of a rule: render its templates, then call a target or notify a channel."""

from __future__ import annotations

from typing import Any

from tasks.templates import render_value
from worker.events import ActionResult
from worker.runtime import Runtime
from worker.settings import Action, CallAction, NotifyAction


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
    path = str(render_value(action.path, context))
    result = runtime.client(action.call).call(
        action.method,
        path,
        params=render_value(action.query, context) or None,
        json=render_value(action.body, context),
        headers=render_value(action.headers, context) or None,
        idempotency_key=key,
    )
    if action.save_as:
        context.setdefault("saved", {})[action.save_as] = result.body
    return ActionResult(
        key=key,
        rule=rule,
        index=index,
        kind="call",
        target=action.call,
        ok=True,
        status_code=result.status_code,
        detail={"method": action.method, "path": path},
    )


def _notify(
    runtime: Runtime, action: NotifyAction, *, rule: str, index: int, key: str, context: dict[str, Any]
) -> ActionResult:
    from worker.channels import send_notification

    text = str(render_value(action.text, context))
    status = send_notification(runtime.settings.channels[action.notify], text, idempotency_key=key)
    return ActionResult(
        key=key, rule=rule, index=index, kind="notify", target=action.notify, ok=True, status_code=status
    )
