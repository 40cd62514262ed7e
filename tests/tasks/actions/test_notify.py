"""The notify action (tasks/actions/notify.py): a notification sent and recorded with its channel."""

from __future__ import annotations

import redis

from tasks import pipeline
from tests.tasks.support import (
    FEISHU_URL,
    Scripted,
    make_runtime,
    settings_with,
    store_event,
)
from worker.store.events import EventStatus


def test_a_notification_action_records_its_channel(fake_redis: redis.Redis) -> None:
    script = Scripted()
    seen = script.seen
    rules = [{"name": "n", "do": [{"notify": "ops", "text": "{{ event.source }}/{{ event.type }}"}]}]
    runtime = make_runtime(fake_redis, settings_with(rules), script)
    event_id = store_event(runtime, "github", "push", {})

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert str(seen[0].url) == FEISHU_URL
    assert seen[0].headers["Idempotency-Key"] == f"{event_id}:n:0"
    action = runtime.events.get(event_id).actions[0]
    assert (action.kind, action.target, action.detail) == ("notify", "ops", {"channel_kind": "feishu"})
