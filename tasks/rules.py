"""Which rules an event triggers."""

from __future__ import annotations

from typing import Any

from tasks.templates import evaluate_condition
from worker.events import EventRecord
from worker.settings import Rule


def event_context(record: EventRecord) -> dict[str, Any]:
    """The names a condition or template can use."""
    return {
        "payload": record.payload,
        "headers": record.headers,
        "event": {
            "id": record.id,
            "source": record.source,
            "type": record.type,
            "delivery_id": record.delivery_id,
            "received_at": record.received_at,
        },
    }


def matching_rules(rules: list[Rule], record: EventRecord) -> list[Rule]:
    """Rules whose ``on`` matches the event and whose ``if`` holds, in configuration order."""
    context = event_context(record)
    return [
        rule
        for rule in rules
        if rule.on.matches(record.source, record.type)
        and (rule.condition is None or evaluate_condition(rule.condition, context))
    ]
