"""An event's history is bounded and expires; its timeline tells attempts, actions, retries and dead-lettering."""

from __future__ import annotations

import redis

from worker.ops.story import timeline
from worker.store import history
from worker.store.events import ActionResult, EventRecord, EventStatus


def _record(**changes: object) -> EventRecord:
    record = EventRecord("evt_1", "github", "push", "d-1", 100.0, {}, {}, status=EventStatus.FAILED, error="boom")
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def test_history_is_capped_ordered_and_expires(fake_redis: redis.Redis) -> None:
    for attempt in range(history.MAX_ENTRIES + 5):
        history.append(fake_redis, "evt_1", "attempt", ttl=60, now=float(attempt), attempt=attempt)

    entries = history.read(fake_redis, "evt_1")

    assert len(entries) == history.MAX_ENTRIES
    assert (entries[0]["attempt"], entries[-1]["attempt"]) == (5, history.MAX_ENTRIES + 4)
    assert 0 < fake_redis.ttl(history.key("evt_1")) <= 60


def test_history_joins_the_callers_pipeline(fake_redis: redis.Redis) -> None:
    with fake_redis.pipeline() as pipe:
        history.append(pipe, "evt_1", "retry", reason="HTTP 503", delay=4)
        assert not fake_redis.exists(history.key("evt_1"))
        pipe.execute()

    assert history.read(fake_redis, "evt_1")[0]["reason"] == "HTTP 503"


def test_the_timeline_tells_each_step_with_its_request_line() -> None:
    entries = [
        {"at": 101.0, "kind": "attempt", "attempt": 1, "worker": "host:42"},
        {"at": 101.5, "kind": "action", "rule": "r", "index": 0, "action_kind": "call", "target": "api7",
         "request": "PUT /apisix/admin/routes/1", "status_code": 503, "ok": False, "error": "busy", "seconds": 0.25},
        {"at": 102.0, "kind": "retry", "reason": "HTTP 503", "delay": 4},
        {"at": 110.0, "kind": "dead_lettered", "reason": "gave up"},
        {"at": 200.0, "kind": "replayed", "by": "relay dlq replay"},
    ]  # fmt: skip

    steps = timeline(_record(), entries)

    assert [step.kind for step in steps] == ["received", "queued", "attempt", "action", "retry", "dead_lettered",
                                             "replayed"]  # fmt: skip
    assert steps[2].text == "attempt 1 on host:42"
    assert steps[3].text == "r[0] call api7 PUT /apisix/admin/routes/1 -> 503 failed in 250 ms: busy"
    assert steps[4].text == "retry in 4s: HTTP 503"


def test_without_history_the_records_actions_stand_in() -> None:
    action = ActionResult("k", "r", 0, "call", "api7", ok=True, status_code=201,
                          detail={"method": "POST", "path": "/routes", "at": 101.0})  # fmt: skip

    steps = timeline(_record(actions=[action]), [])

    assert [step.kind for step in steps] == ["received", "queued", "action", "status"]
    assert "POST /routes -> 201 ok" in steps[2].text
    assert steps[3].text == "now failed: boom"
