"""The Celery task's own decisions, called directly (its body, not a worker): what is retried and what is not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tasks.process import process_event
from worker.config import Settings
from worker.runtime import close_runtime
from worker.store.events import DLQ_KEY, EVENT_KEY, EventStore


@pytest.fixture
def configured(
    write_config: Callable[[dict[str, Any]], Settings], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    write_config({})
    yield
    close_runtime()


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize(
    "fields",
    [
        {"id": "evt_corrupt", "status": "queued"},  # fields missing
        # nested deeper than any reader can follow (stored before the receiver's depth cap, or by hand)
        {
            **dict.fromkeys(("source", "type", "delivery_id"), "x"),
            "id": "evt_corrupt",
            "received_at": "1",
            "headers": "{}",
            "payload": "[" * 100_000 + "]" * 100_000,
            "status": "queued",
            "attempts": "0",
            "actions": "[]",
            "error": "",
            "updated_at": "1",
        },
    ],
)
def test_a_corrupt_record_is_dead_lettered_with_its_reason_not_retried_forever(
    redis_client: redis.Redis, fields: dict[str, str]
) -> None:
    redis_client.hset(EVENT_KEY + "evt_corrupt", mapping=fields)  # type: ignore[arg-type]

    assert process_event.run("evt_corrupt") == "corrupt"

    assert redis_client.hget(EVENT_KEY + "evt_corrupt", "status") == b"failed"
    assert b"is corrupt" in redis_client.hget(EVENT_KEY + "evt_corrupt", "error")  # type: ignore[operator]
    assert redis_client.zscore(DLQ_KEY, "evt_corrupt") is not None
    # Every reader lists it instead of failing: the dead letters show it with the reason.
    store = EventStore(redis_client, retention_seconds=60)
    assert [(r.id, r.status) for r in store.dead_letters()] == [("evt_corrupt", "failed")]


@pytest.mark.usefixtures("configured")
def test_a_message_for_an_expired_event_is_dropped() -> None:
    assert process_event.run("evt_gone") == "missing"
