"""End to end on real parts: a signed webhook through the receiver, Redis and a Celery worker to the sandbox."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import redis

from tests.integration.support import Stack, rule, stack_config
from tests.support import GITHUB_SECRET as SECRET
from tests.support import Sandbox, github_delivery, wait_for, wait_for_event
from worker.store.events import EventStatus, EventStore

pytestmark = pytest.mark.integration


@pytest.fixture
def relay(stack: Callable[..., Stack], sandbox: Sandbox) -> Stack:
    """Receiver + worker + sandbox, configured with one GitHub source and one rule calling the sandbox on push."""
    return stack(stack_config(sandbox, rule("list-groups-on-push", event="push")))


def test_signed_webhook_reaches_the_sandbox_and_ends_done(
    relay: Stack, sandbox: Sandbox, redis_client: redis.Redis
) -> None:
    receiver = relay.receiver
    response = httpx.post(f"{receiver.url}/hooks/github", **github_delivery({"ref": "refs/heads/main"}))

    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]
    assert response.json()["duplicate"] is False
    calls = wait_for(
        lambda: [r for r in sandbox.requests() if r["path"] == "/api/gateway_groups"], what="the sandbox call"
    )
    assert len(calls) == 1
    assert calls[0]["authenticated"] is True
    assert calls[0]["idempotency_key"] == f"{event_id}:list-groups-on-push:0"
    store = EventStore(redis_client, retention_seconds=60)
    record = wait_for_event(store, event_id, EventStatus.DONE)
    assert record.attempts == 1
    assert [(a.ok, a.status_code) for a in record.actions] == [(True, 200)]


def test_duplicate_delivery_is_acknowledged_once_and_called_once(
    relay: Stack, sandbox: Sandbox, redis_client: redis.Redis
) -> None:
    receiver = relay.receiver
    delivery = github_delivery({"ref": "refs/heads/main"}, delivery="same-delivery-id")
    first = httpx.post(f"{receiver.url}/hooks/github", **delivery)
    second = httpx.post(f"{receiver.url}/hooks/github", **delivery)

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    store = EventStore(redis_client, retention_seconds=60)
    wait_for_event(store, first.json()["event_id"], EventStatus.DONE)
    assert len([r for r in sandbox.requests() if r["path"] == "/api/gateway_groups"]) == 1
    assert len(store.recent(10)) == 1


def test_event_without_a_matching_rule_is_skipped_with_the_reason(
    relay: Stack, sandbox: Sandbox, redis_client: redis.Redis
) -> None:
    receiver = relay.receiver
    response = httpx.post(f"{receiver.url}/hooks/github", **github_delivery({"zen": "hi"}, event="ping"))

    assert response.status_code == 202
    store = EventStore(redis_client, retention_seconds=60)
    record = wait_for_event(store, response.json()["event_id"], EventStatus.SKIPPED)
    assert record.error == "no rule matched source=github event=ping"
    assert sandbox.requests() == []


def test_wrong_signature_is_refused_and_nothing_is_stored(relay: Stack, redis_client: redis.Redis) -> None:
    receiver = relay.receiver
    delivery = github_delivery({"ref": "refs/heads/main"})
    delivery["headers"]["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    response = httpx.post(f"{receiver.url}/hooks/github", **delivery)

    assert response.status_code == 401
    assert SECRET not in response.text
    assert redis_client.zcard("relay:events") == 0
    assert redis_client.llen("relay.events") == 0
