"""The timeline of one event, from its record and its history: what ``relay events show`` and the status page tell.

Received and queued come from the record; attempts, actions with their request line, retries, dead-lettering and
replays from ``worker.store.history``. Without history (an event from before it existed) the record's actions stand in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from worker.store.events import ActionResult, EventRecord


@dataclass(frozen=True)
class TimelineStep:
    """One line of the timeline."""

    at: float | None
    kind: str
    text: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _action_text(entry: dict[str, Any]) -> str:
    outcome = "ok" if entry.get("ok") else "failed"
    request = entry.get("request") or ""
    seconds = entry.get("seconds")
    took = f" in {float(seconds) * 1000:.0f} ms" if seconds is not None else ""
    error = f": {entry['error']}" if entry.get("error") else ""
    kind = entry.get("action_kind") or ("" if entry.get("kind") == "action" else entry.get("kind", ""))
    where = f"{entry.get('rule')}[{entry.get('index')}] {kind} {entry.get('target', '')}"
    return f"{where} {request} -> {entry.get('status_code') or '-'} {outcome}{took}{error}".replace("  ", " ")


_TEXTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "attempt": lambda e: f"attempt {e.get('attempt', '?')} on {e.get('worker', '?')}",
    "action": _action_text,
    "retry": lambda e: f"retry in {float(e.get('delay') or 0):.0f}s: {e.get('reason', '')}",
    "finished": lambda e: f"finished {e.get('status')}" + (f": {e['error']}" if e.get("error") else ""),
    "dead_lettered": lambda e: f"dead-lettered: {e.get('reason', '')}",
    "replayed": lambda e: f"replayed by {e.get('by', 'an operator')}",
}


def _from_action(action: ActionResult) -> TimelineStep:
    request = " ".join(str(action.detail.get(key, "")) for key in ("method", "path")).strip()
    entry = {**asdict(action), "request": request}
    return TimelineStep(action.detail.get("at"), "action", _action_text(entry) + f" (attempts {action.attempts})")


def _write_steps(entry: dict[str, Any]) -> list[TimelineStep]:
    """A sync action's writes, one line each, under its action line."""
    writes = entry.get("writes") if entry.get("kind") == "action" else None
    if not isinstance(writes, list):
        return []
    return [TimelineStep(entry.get("at"), "write", f"  {write}") for write in writes if isinstance(write, str)]


def timeline(record: EventRecord, history: list[dict[str, Any]]) -> list[TimelineStep]:
    """The event's steps, oldest first."""
    steps = [
        TimelineStep(
            record.received_at, "received", f"received from {record.source}: {record.type} ({record.delivery_id})"
        ),
        TimelineStep(record.received_at, "queued", "queued"),
    ]
    # An action's entry is written when it ends but dated when it started: order by time.
    for entry in sorted(history, key=lambda entry: float(entry.get("at") or 0.0)):
        render = _TEXTS.get(str(entry.get("kind")))
        text = render(entry) if render else str(entry.get("kind"))
        steps.append(TimelineStep(entry.get("at"), str(entry.get("kind")), text))
        steps += _write_steps(entry)
    if not history:
        steps += [_from_action(action) for action in record.actions]
        steps.append(
            TimelineStep(
                record.updated_at or None,
                "status",
                f"now {record.status}" + (f": {record.error}" if record.error else ""),
            )
        )
    return steps
