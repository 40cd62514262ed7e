"""Actions in flight: sent, with no result recorded yet, so a rerun knows their outcome is unknown.

Before a call whose repetition could apply twice (a POST or PATCH, unless its rule says ``on_unknown: retry``) is
sent, its key is written to the event's hash as ``inflight:<key>`` with what it was (``<target> <METHOD> <path>``);
the field goes when the result is recorded (both written by the event run, ``tasks.run``). A run that finds such a
field has met a call cut short with no answer: its worker died mid-call, and the admin API may or may not have
applied it. API7 documents no ``Idempotency-Key``, so Relay cannot ask; the action's policy decides
(``unknown_reason`` is what an operator then reads).

A run that starts on an event left ``running`` (its previous run died with nothing recorded) counts it in the
``interrupted`` field; past ``celery.max_deliveries`` the event is poison and is dead-lettered.
"""

from __future__ import annotations

from typing import Literal

import redis

from worker.errors import UnresolvedOutcome
from worker.store.events import ActionResult, EventRecord
from worker.store.keyspace import FIELD_INTERRUPTED, event_key


def count_interrupted(client: redis.Redis, event_id: str) -> int:
    """Count one more run of this event cut short with nothing recorded; returns the new count."""
    return int(client.hincrby(event_key(event_id), FIELD_INTERRUPTED, 1))


def unknown_reason(what: str) -> str:
    """The reason an event is dead-lettered for an action whose outcome is unknown."""
    return f"outcome unknown: check {what} and replay or skip (relay dlq replay --skip-unknown | --retry-unknown)"


Resolution = Literal["refuse", "skip", "retry"]


def unknown_actions(record: EventRecord) -> list[ActionResult]:
    """The results of actions whose outcome is unknown (sent, no answer)."""
    return [action for action in record.actions if not action.ok and action.detail.get("unknown")]


def resolve_unknown(record: EventRecord, how: Resolution) -> EventRecord:
    """Mark unknown outcomes as done (``skip``) or drop them so they run again (``retry``); ``refuse`` raises."""
    unknown = unknown_actions(record)
    if not unknown:
        return record
    if how == "refuse":
        keys = ", ".join(action.key for action in unknown)
        raise UnresolvedOutcome(
            f"event {record.id}: the outcome of {keys} is unknown; check the target, then replay with "
            "--skip-unknown (it took effect) or --retry-unknown (send it again)"
        )
    for action in unknown:
        if how == "skip":
            action.ok = True
            action.detail = {**action.detail, "skipped": "outcome unknown; marked done by an operator"}
    if how == "retry":
        record.actions = [action for action in record.actions if action not in unknown]
    return record
