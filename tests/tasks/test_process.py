"""The Celery task's own decisions, called directly (its body, not a worker): what is retried and what is not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tasks.process import process_event
from worker.events import EVENT_KEY
from worker.runtime import close_runtime
from worker.settings import Settings


@pytest.fixture
def configured(
    write_config: Callable[[dict[str, Any]], Settings], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    write_config({})
    yield
    close_runtime()


@pytest.mark.usefixtures("configured")
def test_a_corrupt_record_is_dropped_not_retried_forever(redis_client: redis.Redis) -> None:
    redis_client.hset(EVENT_KEY + "evt_corrupt", mapping={"id": "evt_corrupt", "status": "queued"})

    assert process_event.run("evt_corrupt") == "corrupt"


@pytest.mark.usefixtures("configured")
def test_a_message_for_an_expired_event_is_dropped() -> None:
    assert process_event.run("evt_gone") == "missing"
