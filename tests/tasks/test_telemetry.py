"""The pipeline counts each finished event once, with its source and status, and tells each step in its history."""

from __future__ import annotations

import httpx
import redis

from tasks import pipeline
from tests.tasks import support
from worker.ops import stats
from worker.ops.story import timeline
from worker.store import history
from worker.store.events import EventStatus

RULES = [{"name": "pub", "on": {"source": "github", "event": "push"},
          "do": [{"call": "gw", "method": "POST", "path": "/api/services/publish", "body": {"n": 1}}]}]  # fmt: skip


def _finished(client: redis.Redis) -> dict[str, float]:
    raw: dict[bytes, bytes] = client.hgetall(stats.EVENTS.key)  # type: ignore[assignment]
    return {key.decode(): float(value) for key, value in raw.items()}


def test_a_retried_then_done_event_is_counted_once_and_its_story_told(fake_redis: redis.Redis) -> None:
    answers = iter([503])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers, 200)
        return httpx.Response(status, json={"error_msg": "busy"} if status >= 500 else {})

    runtime = support.make_runtime(fake_redis, support.settings_with(RULES), handler)
    event_id = support.store_event(runtime, "github", "push", {"n": 1})

    assert pipeline.process(runtime, event_id).status == EventStatus.RETRYING
    assert _finished(fake_redis) == {}
    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert pipeline.process(runtime, event_id).status == EventStatus.DONE  # a redelivery: not counted again

    assert _finished(fake_redis) == {'["github","done"]': 1.0}
    calls: dict[bytes, bytes] = fake_redis.hgetall(stats.CALLS.key)  # type: ignore[assignment]
    assert calls == {b'["gw","POST","5xx"]': b"1", b'["gw","POST","2xx"]': b"1"}
    steps = timeline(runtime.events.get(event_id), history.read(fake_redis, event_id))
    assert [step.kind for step in steps] == ["received", "queued", "attempt", "action", "retry", "attempt", "action",
                                             "finished"]  # fmt: skip
    actions = [entry for entry in history.read(fake_redis, event_id) if entry["kind"] == "action"]
    assert [(a["request"], a["status_code"], a["ok"]) for a in actions] == [
        ("gw POST /api/services/publish", 503, False), ("POST /api/services/publish", 200, True)
    ]  # fmt: skip


def test_a_skipped_event_is_counted_by_its_status(fake_redis: redis.Redis) -> None:
    runtime = support.make_runtime(fake_redis, support.settings_with(RULES), lambda request: httpx.Response(200))
    event_id = support.store_event(runtime, "github", "release", {})

    pipeline.process(runtime, event_id)

    assert _finished(fake_redis) == {'["github","skipped"]': 1.0}
    assert fake_redis.hget(stats.EVENT_SECONDS.key, '["github","count"]') == b"1"
