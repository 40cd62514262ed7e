"""What every action shares (tasks/actions/base.py): the idempotency key."""

from __future__ import annotations

from tasks.actions import idempotency_key


def test_the_idempotency_key_names_the_event_the_rule_and_the_action() -> None:
    assert idempotency_key("evt_1", "ship", 2) == "evt_1:ship:2"
