"""The ``notify`` action kind: a message to a channel, sent by the runtime's notification client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tasks.actions.base import Runner, Step, indent
from tasks.templates import render_text
from worker.channels import prepare
from worker.config import NotifyAction, Settings
from worker.errors import RelayError
from worker.redaction import MASK
from worker.runtime import Runtime
from worker.store.events import ActionResult


@dataclass(frozen=True)
class Notification:
    """A message as it will be sent to a channel."""

    channel: str
    text: str


def render_notify(action: NotifyAction, context: dict[str, Any]) -> Notification:
    """Render a notification's text; raises ``RuleError``."""
    return Notification(action.notify, render_text(action.text, context))


class NotifyRunner(Runner[NotifyAction, Notification]):
    """Renders and sends a notification, with the step's Idempotency-Key."""

    kind = NotifyAction.kind

    def plan(self, action: NotifyAction, context: dict[str, Any]) -> Notification:
        """Render the text."""
        return render_notify(action, context)

    def run(self, runtime: Runtime, action: NotifyAction, step: Step, context: dict[str, Any]) -> ActionResult:
        """Send the message; the result records the channel's kind."""
        notification = render_notify(action, context)
        status = runtime.notifications.send(
            action.notify, notification.text, event=context.get("event"), idempotency_key=step.key
        )
        kind = runtime.settings.channels[action.notify].kind
        return step.result(action, status_code=status, detail={"channel_kind": kind})

    def templates(self, action: NotifyAction) -> dict[str, Any]:
        """The text."""
        return {"text": action.text}

    def preview(
        self, settings: Settings, action: NotifyAction, request: Notification, key: str, context: dict[str, Any]
    ) -> dict[str, Any]:
        """The body as the channel would receive it; the URL's secret part and any signature masked."""
        config = settings.channels[request.channel]
        try:
            url, body = prepare(config, request.text, event=context.get("event"))
        except ValueError as exc:
            raise RelayError(f"channel {request.channel!r}: {exc}") from None
        if "sign" in body:
            body = {**body, "sign": MASK}
        return {
            "channel_kind": config.kind,
            "url": f"{url.scheme}://{url.host}/{MASK}",
            "signed": config.secret is not None,
            "text": request.text,
            "body": body,
        }

    def report_lines(self, entry: dict[str, Any]) -> list[str]:
        """The channel's kind and URL, then the body."""
        signed = ", signed" if entry["signed"] else ""
        body = json.dumps(entry["body"], indent=2, ensure_ascii=False, default=str)
        return [f" ({entry['channel_kind']}{signed}): POST {entry['url']}", indent(body, 6)]
