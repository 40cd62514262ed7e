"""The sweeper re-queues only events that are truly stranded, and never overwrites one a worker moved on."""

from __future__ import annotations

import pytest
import redis

from tasks import maintenance
from worker.celery_app import EVENTS_QUEUE, PROCESS_EVENT
from worker.config import Settings
from worker.runtime import Runtime
from worker.store.events import EVENT_KEY, EventRecord, EventStatus, event_fields, new_event_id
from worker.store.messages import live_task_arguments
from worker.targets import ConfigTokens


def stranded(runtime: Runtime, status: EventStatus = EventStatus.QUEUED) -> str:
    record = EventRecord(
        id=new_event_id(now=1000.0), source="github", type="push", delivery_id="d", received_at=1000.0,
        headers={}, payload={}, status=status, updated_at=1000.0,
    )  # fmt: skip
    runtime.redis.hset(EVENT_KEY + record.id, mapping=event_fields(record))  # type: ignore[arg-type]
    runtime.redis.zadd("relay:events", {record.id: 1000 * 1000})
    return record.id


@pytest.fixture
def runtime(fake_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("RELAY_REDIS_URL", "redis://127.0.0.1:1/0")  # the Celery app's broker; never contacted
    settings = Settings(retention_days=1e6)
    return Runtime(settings, fake_redis, ConfigTokens(settings))


def test_only_unfinished_idle_events_are_candidates(runtime: Runtime) -> None:
    waiting = stranded(runtime, EventStatus.QUEUED)
    retrying = stranded(runtime, EventStatus.RETRYING)
    stranded(runtime, EventStatus.DONE)

    assert {event_id for event_id, _ in runtime.events.unfinished(idle_seconds=60)} == {waiting, retrying}
    assert runtime.events.unfinished(idle_seconds=60, now=1030.0) == []  # touched 30 s ago: not idle yet


def test_an_event_finished_while_the_sweeper_looked_is_left_alone(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_id = stranded(runtime)

    def a_worker_finishes_it_meanwhile(*_: object) -> set[str]:
        record = runtime.events.get(event_id)
        record.status = EventStatus.DONE
        runtime.events.save(record)
        return set()

    monkeypatch.setattr(maintenance, "live_task_arguments", a_worker_finishes_it_meanwhile)

    assert maintenance.requeue_stranded(runtime, idle_seconds=0) == []
    assert runtime.events.get(event_id).status == EventStatus.DONE
    assert runtime.redis.llen(EVENTS_QUEUE) == 0


def test_a_stranded_event_is_requeued_once_straight_onto_the_queue(runtime: Runtime) -> None:
    event_id = stranded(runtime)

    assert maintenance.requeue_stranded(runtime, idle_seconds=0) == [event_id]
    assert maintenance.requeue_stranded(runtime, idle_seconds=0) == []  # its message is live now
    assert live_task_arguments(runtime.redis, EVENTS_QUEUE, PROCESS_EVENT) == {event_id}
    assert runtime.events.get(event_id).status == EventStatus.QUEUED
