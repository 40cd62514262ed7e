"""An event run's writes: how many round trips to Redis it costs, and what each write holds.

A plain Celery task making the same admin call makes no round trip of its own (Celery's own, fetching and acking the
message, are the same for both), so the counts here are what Relay's guarantees cost on top of it: the goal is at
most two on the common path (an event whose one call succeeds first time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import httpx
import pytest
import redis
from cryptography.fernet import Fernet

from tasks import pipeline
from tasks.run import attempts_allowed, retries_spent
from tests.support import FakeClock
from tests.tasks import support
from tests.tasks.support import RoundTrips
from worker.errors import CorruptRecord
from worker.liveness.heartbeat import ensure_heartbeat
from worker.ops import stats
from worker.runtime import Runtime
from worker.store import history, keyspace, runs
from worker.store.events import EventStatus, event_fields
from worker.tokens.keys import parse_keys
from worker.tokens.records import Origin
from worker.tokens.store import TokenStore

PLAIN_TASK_ROUND_TRIPS = 0  # a plain task's own: it calls httpx and returns


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.integration)])
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """The same counts on fakeredis and on a real server."""
    if request.param == "fakeredis":
        yield fakeredis.FakeRedis()
        return
    yield redis.Redis.from_url(request.getfixturevalue("redis_url"))


def _runtime(client: redis.Redis, actions: list[dict[str, Any]], status: int = 200) -> Runtime:
    rule = {"name": "r", "on": {"source": "github", "event": "push"}, "do": actions}
    runtime = support.make_runtime(client, support.settings_with([rule]), lambda _: httpx.Response(status, json={}))
    ensure_heartbeat(client)  # a process beats once, when it first takes work: not part of any one run
    # The first run on a server loads the start script (one more round trip, once per server).
    pipeline.process(runtime, support.store_event(runtime, "github", "push", {}))
    return runtime


def _counted_run(runtime: Runtime) -> tuple[str, RoundTrips]:
    event_id = support.store_event(runtime, "github", "push", {"n": 1})
    with RoundTrips() as trips:
        outcome = pipeline.process(runtime, event_id)
    assert outcome.status == EventStatus.DONE
    return event_id, trips


GET = {"call": "gw", "method": "GET", "path": "/api/gateway_groups"}
POST = {"call": "gw", "method": "POST", "path": "/api/services/publish", "json": {}}


def test_the_common_path_costs_at_most_two_round_trips_more_than_a_plain_task(client: redis.Redis) -> None:
    runtime = _runtime(client, [GET])
    event_id, trips = _counted_run(runtime)

    assert trips.count <= PLAIN_TASK_ROUND_TRIPS + 2, trips.commands()
    assert trips.commands() == ["EVALSHA", "MULTI"]  # the start; the end
    # Everything the run records went in those two: the record, its story, its counts, the lock's release.
    record = runtime.events.get(event_id)
    assert (record.status, record.attempts, [a.ok for a in record.actions]) == (EventStatus.DONE, 1, [True])
    kinds = [entry["kind"] for entry in history.read(client, event_id)]
    assert kinds == ["attempt", "action", "finished"]
    assert client.hget(stats.CALLS.key, '["gw","GET","2xx"]') == b"2"  # the warm-up run's call and this one
    assert client.exists(keyspace.event_lock_key(event_id)) == 0


def test_a_non_idempotent_call_adds_its_in_flight_mark_and_nothing_else(client: redis.Redis) -> None:
    runtime = _runtime(client, [POST])
    event_id, trips = _counted_run(runtime)

    assert trips.commands() == ["EVALSHA", "MULTI", "MULTI"]  # the start; the mark before the call; the end
    assert b"inflight:" in trips.sent[1]
    assert runtime.events.get(event_id).in_flight == {}  # settled by the end's write


def test_each_further_action_costs_no_round_trip_unless_it_must_be_marked(client: redis.Redis) -> None:
    runtime = _runtime(client, [GET, GET, POST, GET])
    event_id, trips = _counted_run(runtime)

    # The start; the POST's mark; the POST's result, written before the next call is sent; the end.
    assert trips.commands() == ["EVALSHA", "MULTI", "MULTI", "MULTI"]
    assert [a.ok for a in runtime.events.get(event_id).actions] == [True] * 4


def test_a_failed_event_is_still_one_write_at_the_end(client: redis.Redis) -> None:
    runtime = _runtime(client, [GET], status=404)
    event_id = support.store_event(runtime, "github", "push", {})
    with RoundTrips() as trips:
        assert pipeline.process(runtime, event_id).status == EventStatus.FAILED

    assert trips.commands() == ["EVALSHA", "MULTI"]
    assert client.zscore(keyspace.DLQ_KEY, event_id) is not None
    assert client.ttl(keyspace.event_key(event_id)) == -1  # a dead letter is kept


def test_a_run_s_writes_are_stamped_by_the_event_store_s_clock(client: redis.Redis, event_clock: FakeClock) -> None:
    runtime = _runtime(client, [GET, POST])
    event_id = support.store_event(runtime, "github", "push", {})

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE

    assert runtime.events.get(event_id).updated_at == event_clock.now


@pytest.mark.parametrize("max_retries", [0, 2])
@pytest.mark.parametrize("attempts", [0, 1, 2, 3, 4])
def test_the_start_script_marks_a_run_exactly_while_the_budget_is_not_spent(
    fake_redis: redis.Redis, max_retries: int, attempts: int
) -> None:
    limits = support.settings_with([], celery={"max_retries": max_retries}).celery
    record = support.record_for("github", "push", {})
    record.status, record.attempts = EventStatus.RETRYING, attempts
    fake_redis.hset(keyspace.event_key(record.id), mapping=event_fields(record))  # type: ignore[arg-type]
    args = runs.StartArgs("me|1", 60, attempts_allowed(limits), 600, "host:1", 600)

    started = runs.start(fake_redis, record.id, args)

    assert (started.state == runs.Start.MARKED) is not retries_spent(attempts, limits)
    assert started.record is not None
    assert started.record.attempts == attempts + (started.state == runs.Start.MARKED)  # a refusal counts nothing


def test_an_unreadable_record_leaves_no_lock_behind(fake_redis: redis.Redis) -> None:
    runtime = _runtime(fake_redis, [GET])
    event_id = support.store_event(runtime, "github", "push", {})
    fake_redis.hset(keyspace.event_key(event_id), "payload", "{not json")

    with pytest.raises(CorruptRecord):
        pipeline.process(runtime, event_id)

    assert fake_redis.exists(keyspace.event_lock_key(event_id)) == 0  # a replay may run it at once


def _stored_token_runtime(
    client: redis.Redis, handler: Callable[[httpx.Request], httpx.Response]
) -> tuple[Runtime, TokenStore]:
    rule = {"name": "r", "on": {"source": "github", "event": "push"}, "do": [GET]}
    settings = support.settings_with([rule])
    store = TokenStore(client, parse_keys(Fernet.generate_key().decode(), origin="RELAY_TOKEN_KEY"))
    store.add("gw", "gw", support.TOKEN)
    runtime = Runtime(settings, client, store, transport=httpx.MockTransport(handler))
    ensure_heartbeat(client)
    pipeline.process(runtime, support.store_event(runtime, "github", "push", {}))  # loads the script
    return runtime, store


def test_with_the_token_store_the_token_s_head_comes_with_the_start(client: redis.Redis) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["X-API-KEY"])
        return httpx.Response(200, json={})

    runtime, store = _stored_token_runtime(client, handler)
    _, trips = _counted_run(runtime)
    assert trips.commands() == ["EVALSHA", "MULTI"]  # no HMGET of the token before the call

    store.install("gw", "rotated-secret-value", origin=Origin.CLI)
    _counted_run(runtime)
    assert sent[-2:] == [support.TOKEN, "rotated-secret-value"]  # the next run sees a rotation at once


def test_a_refused_token_is_read_again_from_redis_not_from_the_start(client: redis.Redis) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["X-API-KEY"])
        if request.headers["X-API-KEY"] == support.TOKEN and len(sent) > 1:
            store.install("gw", "rotated-secret-value", origin=Origin.CLI)  # rotated while the call was under way
            return httpx.Response(401, json={"error_msg": "invalid api key"})
        return httpx.Response(200, json={})

    runtime, store = _stored_token_runtime(client, handler)
    _, trips = _counted_run(runtime)

    assert sent[-2:] == [support.TOKEN, "rotated-secret-value"]  # refused, re-read, sent again with the new one
    commands = trips.commands()  # the rotation's own writes (made from the handler) are counted too
    assert (commands[0], commands.count("HMGET"), commands[-1]) == ("EVALSHA", 1, "MULTI")  # one re-read
