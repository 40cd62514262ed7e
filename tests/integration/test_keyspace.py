"""The keyspace table against a real run: every key Relay leaves in Redis is a row of it, with the type it says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.integration.support import Stack, call, rule, stack_config
from tests.support import Sandbox, wait_for_event
from worker.store import keyspace
from worker.store.events import EventStatus, EventStore

pytestmark = pytest.mark.integration


@pytest.fixture
def relay(stack: Callable[..., Stack], sandbox: Sandbox) -> Stack:
    """One rule that calls the sandbox, one whose call the sandbox refuses."""
    return stack(
        stack_config(
            sandbox,
            rule("list-groups-on-push", event="push"),
            rule("publish-on-release", call("/api/no_such_resource", "POST", json={}), event="release"),
        )
    )


def test_every_key_a_real_run_leaves_is_a_row_of_the_table_with_its_type(
    relay: Stack, redis_client: redis.Redis
) -> None:
    store = EventStore(redis_client, retention_seconds=60)
    done = _post(relay, {"ref": "refs/heads/main"}, event="push", delivery="d-push")
    _post(relay, {"ref": "refs/heads/main"}, event="push", delivery="d-push")  # a duplicate
    failed = _post(relay, {"action": "published"}, event="release", delivery="d-release")
    skipped = _post(relay, {"action": "opened"}, event="issues", delivery="d-issue")
    wait_for_event(store, done, EventStatus.DONE)
    wait_for_event(store, failed, EventStatus.FAILED)
    wait_for_event(store, skipped, EventStatus.SKIPPED)

    left = {_text(key): _text(redis_client.type(key)) for key in redis_client.scan_iter()}
    # "none": gone between SCAN and TYPE (a heartbeat or a short-lived lock expiring meanwhile), so not left.
    unnamed = {key: kind for key, kind in left.items() if kind != "none" and keyspace.row_type(key) != kind}

    assert unnamed == {}, f"keys the keyspace table does not name (with their type): {unnamed}"
    for key in (keyspace.event_key(done), keyspace.history_key(done), keyspace.DLQ_KEY, keyspace.INDEX_KEY):
        assert key in left  # the run wrote what the table says it writes
    assert keyspace.event_lock_key(done) not in left  # released at the run's end


def _post(relay: Stack, body: dict[str, Any], *, event: str, delivery: str) -> str:
    response = relay.post(body, event=event, delivery=delivery)
    assert response.status_code in (200, 202), response.text
    return str(response.json()["event_id"])


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
