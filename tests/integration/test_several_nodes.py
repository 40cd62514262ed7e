"""Two receivers and two workers (different node names) on one Redis: dedup, event locks and job locks hold."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import httpx
import pytest
import redis
from redis.lock import Lock

from tests.integration.support import Stack, call, rule, stack_config
from tests.support import Sandbox, Server, github_delivery, wait_for
from worker.celery_app import EVENTS_QUEUE, event_messages
from worker.store.events import FINAL_STATUSES, EventStatus, EventStore
from worker.store.locks import job_lock, rotation_lock

pytestmark = pytest.mark.integration
EVENTS = 30


@pytest.fixture
def cluster(stack: Callable[..., Stack], sandbox: Sandbox) -> list[Server]:
    """Two receivers and two workers (two processes each) on one Redis; every event creates a service."""
    create = call("/apisix/admin/services", "POST", json={"name": "x"})
    return stack(stack_config(sandbox, rule("create", create)), workers=2, concurrency=2, receivers=2).receivers


def test_two_receivers_and_two_workers_act_once_per_event(
    cluster: list[Server], sandbox: Sandbox, redis_client: redis.Redis
) -> None:
    # The same delivery reaching both receivers at once (a sender's retry through another load balancer path).
    same = github_delivery({"n": "same"}, delivery=str(uuid.uuid4()))
    answers: list[httpx.Response] = []
    threads = [
        threading.Thread(target=lambda url=server.url: answers.append(httpx.post(f"{url}/hooks/github", **same)))
        for server in cluster
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [200, 202]
    assert len({answer.json()["event_id"] for answer in answers}) == 1

    ids = [answers[0].json()["event_id"]]
    for n in range(EVENTS):
        answer = httpx.post(f"{cluster[n % 2].url}/hooks/github", **github_delivery({"n": n}))
        ids.append(answer.json()["event_id"])
    # Every event's message pushed twice more (a replay and a sweep racing): the event lock keeps one run each.
    for event_id in ids:
        redis_client.lpush(EVENTS_QUEUE, event_messages().encode(event_id), event_messages().encode(event_id))

    store = EventStore(redis_client, retention_seconds=600)
    wait_for(lambda: all(store.get(i).status in FINAL_STATUSES for i in ids), timeout=60, what="every event done")
    assert {store.get(i).status for i in ids} == {EventStatus.DONE}
    effects = httpx.get(f"{sandbox.url}/_sandbox/effects", params={"by": "idempotency_key"}).json()
    assert effects["duplicates"] == {}
    assert sorted(key.split(":")[0] for key in effects["counts"]) == sorted(ids)


def test_job_and_rotation_locks_exclude_across_connections(redis_url: str) -> None:
    # Two machines are two clients of one Redis: what one holds, the other cannot take.
    first, second = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    makers: list[Callable[[redis.Redis], Lock]] = [
        lambda c: job_lock(c, "sweep_events", 30),
        lambda c: rotation_lock(c, "prod", 30),
    ]
    for make in makers:
        held = make(first)
        assert held.acquire()
        assert not make(second).acquire()
        held.release()
        assert make(second).acquire()
