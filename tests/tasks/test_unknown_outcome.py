"""Calls cut short with no answer: a non-idempotent one is never resent blindly; poison events end.

A worker killed mid-call is played by a handler that raises ``KeyboardInterrupt`` (a ``BaseException``, so nothing
in the pipeline catches it): the run stops where a SIGKILL would stop it, with the event left ``running``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from tasks import pipeline
from tests.tasks import support
from worker.errors import UnresolvedOutcome
from worker.runtime import Runtime
from worker.store.events import DLQ_KEY, EVENT_KEY, EventStatus
from worker.store.inflight import resolve_unknown

Handler = Callable[[httpx.Request], httpx.Response]


def _runtime(client: redis.Redis, handler: Handler, action: dict[str, Any], **extra: Any) -> Runtime:
    rule = {"name": "r", "do": [{"call": "gw", **action}]}
    return support.make_runtime(client, support.settings_with([rule], **extra), handler)


class Killed:
    """Answers normally, except that the first ``kills`` requests kill the worker after reaching the server."""

    def __init__(self, kills: int = 1) -> None:
        self.kills = kills
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.kills:
            self.kills -= 1
            raise KeyboardInterrupt  # the worker dies while the call is in flight
        return httpx.Response(201, json={"value": {}})


def _killed_run(runtime: Runtime, event_id: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        pipeline.process(runtime, event_id)
    assert runtime.events.get(event_id).status == EventStatus.RUNNING


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_non_idempotent_call_cut_short_is_dead_lettered_not_resent(fake_redis: redis.Redis, method: str) -> None:
    handler = Killed()
    runtime = _runtime(fake_redis, handler, {"method": method, "path": "/apisix/admin/services", "json": {"a": 1}})
    event_id = support.store_event(runtime, "github", "push", {})
    _killed_run(runtime, event_id)

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED

    assert len(handler.seen) == 1  # sent once, never again
    record = runtime.events.get(event_id)
    assert record.error == (
        "rule 'r' action 0: outcome unknown: check gw " + method + " /apisix/admin/services and replay or skip"
        " (relay dlq replay --skip-unknown | --retry-unknown)"
    )
    assert [(a.ok, a.detail.get("unknown")) for a in record.actions] == [(False, True)]
    assert record.in_flight == {}
    assert fake_redis.zscore(DLQ_KEY, event_id) is not None


@pytest.mark.parametrize(
    ("action", "sends"),
    [
        ({"method": "PUT", "path": "/apisix/admin/services/s1", "json": {"name": "s"}}, 2),
        ({"method": "DELETE", "path": "/apisix/admin/services/s1"}, 2),
        ({"method": "GET", "path": "/api/gateway_groups"}, 2),
        ({"method": "POST", "path": "/apisix/admin/services", "json": {}, "on_unknown": "retry"}, 2),
    ],
)
def test_idempotent_calls_and_retry_policies_are_sent_again(
    fake_redis: redis.Redis, action: dict[str, Any], sends: int
) -> None:
    handler = Killed()
    runtime = _runtime(fake_redis, handler, action)
    event_id = support.store_event(runtime, "github", "push", {})
    _killed_run(runtime, event_id)

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert len(handler.seen) == sends


def test_a_known_failure_clears_the_mark_so_the_retry_is_sent(fake_redis: redis.Redis) -> None:
    answers = iter([503, 201])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(answers), json={"value": {}})

    runtime = _runtime(fake_redis, handler, {"method": "POST", "path": "/apisix/admin/services", "json": {}})
    event_id = support.store_event(runtime, "github", "push", {})

    assert pipeline.process(runtime, event_id).status == EventStatus.RETRYING  # a 503 said: not applied
    assert runtime.events.get(event_id).in_flight == {}
    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert len(seen) == 2
    assert not [key for key in map(str, fake_redis.hkeys(EVENT_KEY + event_id)) if "inflight:" in key]


@pytest.mark.parametrize(("how", "sends", "status"), [("skip", 1, EventStatus.DONE), ("retry", 2, EventStatus.DONE)])
def test_replay_resolves_an_unknown_outcome_as_asked(
    fake_redis: redis.Redis, how: str, sends: int, status: EventStatus
) -> None:
    handler = Killed()
    runtime = _runtime(fake_redis, handler, {"method": "POST", "path": "/apisix/admin/services", "json": {}})
    event_id = support.store_event(runtime, "github", "push", {})
    _killed_run(runtime, event_id)
    pipeline.process(runtime, event_id)

    with pytest.raises(UnresolvedOutcome, match=r"--skip-unknown .* or --retry-unknown"):
        runtime.events.replay(event_id, queue="q", message=b"m", resolve=lambda r: resolve_unknown(r, "refuse"))
    runtime.events.replay(event_id, queue="q", message=b"m", resolve=lambda r: resolve_unknown(r, how))  # type: ignore[arg-type]

    assert pipeline.process(runtime, event_id).status == status
    assert len(handler.seen) == sends
    assert fake_redis.zscore(DLQ_KEY, event_id) is None


def test_an_event_that_keeps_killing_its_worker_is_dead_lettered_as_poison(fake_redis: redis.Redis) -> None:
    handler = Killed(kills=100)
    runtime = _runtime(
        fake_redis, handler, {"method": "GET", "path": "/api/gateway_groups"}, celery={"max_deliveries": 3}
    )
    event_id = support.store_event(runtime, "github", "push", {})
    for _ in range(4):  # the first run, then three found cut short
        _killed_run(runtime, event_id)

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED
    record = runtime.events.get(event_id)
    assert (
        record.error == "poison: 4 runs of this event were cut short with nothing recorded (its worker died each time)"
    )
    assert len(handler.seen) == 4
