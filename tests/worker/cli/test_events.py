"""``relay events`` and ``relay dlq`` on a real Redis."""

from __future__ import annotations

import json
import time

import pytest
import redis
from click.testing import CliRunner

from worker.celery_app import EVENTS_QUEUE, PROCESS_EVENT
from worker.cli import main
from worker.store.events import DLQ_KEY, EventRecord, EventStatus, EventStore, new_event_id
from worker.store.messages import live_task_arguments


@pytest.fixture
def store(redis_client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> EventStore:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    return EventStore(redis_client, retention_seconds=3600)


def stored(store: EventStore, status: EventStatus, error: str | None = None) -> EventRecord:
    record = EventRecord(
        id=new_event_id(), source="github", type="push", delivery_id="d", received_at=1.0e9,
        headers={}, payload={"ref": "main"}, status=status, error=error, attempts=3,
    )  # fmt: skip
    store.save(record, index=True)
    return record


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.output


def test_show_json_has_the_documented_fields(store: EventStore) -> None:
    record = stored(store, EventStatus.DONE)

    code, output = run("events", "show", record.id, "--json")

    assert code == 0
    shown = json.loads(output)
    assert {"id", "source", "type", "delivery_id", "status", "attempts", "actions", "error"} <= set(shown)
    assert shown["status"] == "done"


def test_list_filters_by_status(store: EventStore) -> None:
    done, failed = stored(store, EventStatus.DONE), stored(store, EventStatus.FAILED, "boom")

    code, output = run("events", "list", "--status", "failed", "--json")

    assert code == 0
    assert [item["id"] for item in json.loads(output)] == [failed.id]
    assert done.id in run("events", "list")[1]


def test_unknown_event_is_a_one_line_error(store: EventStore) -> None:
    code, output = run("events", "show", "evt_nope")

    assert code == 1
    assert output.strip() == "relay: no event 'evt_nope' (unknown or expired)"


def test_dlq_replay_requeues_and_leaves_the_dead_letters(store: EventStore, redis_client: redis.Redis) -> None:
    failed = stored(store, EventStatus.FAILED, "rule 'r' action 0: 404")
    assert run("dlq", "list", "--json")[1].count(failed.id) == 1

    code, output = run("dlq", "replay", failed.id)

    assert code == 0, output
    record = store.get(failed.id)
    assert (record.status, record.attempts, record.error) == (EventStatus.QUEUED, 0, None)
    assert redis_client.zcard(DLQ_KEY) == 0
    assert live_task_arguments(redis_client, EVENTS_QUEUE, PROCESS_EVENT) == {failed.id}


def test_dlq_purge_asks_first_then_deletes(store: EventStore, redis_client: redis.Redis) -> None:
    failed = stored(store, EventStatus.FAILED, "boom")

    code, _ = run("dlq", "purge", "--all", input="n\n")
    assert code == 1
    assert store.dead_letter_count() == 1

    code, output = run("dlq", "purge", "--all", "--yes")
    assert code == 0
    assert "purged 1 event(s)" in output
    assert store.dead_letter_count() == 0
    assert run("events", "show", failed.id)[0] == 1


def test_cli_without_redis_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = run("events", "list")

    assert code == 1
    assert "relay up" in output
    assert "Traceback" not in output


def test_replaying_an_unfinished_event_needs_force(store: EventStore, redis_client: redis.Redis) -> None:
    running = stored(store, EventStatus.RUNNING)

    code, output = run("events", "replay", running.id)

    assert code == 1
    assert f"event {running.id} is running: it will finish on its own" in output
    assert live_task_arguments(redis_client, EVENTS_QUEUE, PROCESS_EVENT) == set()
    assert run("events", "replay", "--force", running.id)[0] == 0
    assert live_task_arguments(redis_client, EVENTS_QUEUE, PROCESS_EVENT) == {running.id}


def test_dlq_purge_older_than_keeps_the_recent_ones(store: EventStore, redis_client: redis.Redis) -> None:
    old, recent = stored(store, EventStatus.FAILED, "old"), stored(store, EventStatus.FAILED, "recent")
    redis_client.zadd(DLQ_KEY, {old.id: time.time() - 8 * 86400})

    code, output = run("dlq", "purge", "--older-than", "7d", "--yes")

    assert (code, output.strip()) == (0, "purged 1 event(s)")
    assert [record.id for record in store.dead_letters()] == [recent.id]
    assert run("events", "show", old.id)[0] == 1


@pytest.mark.parametrize("bad", ["7", "seven days", "-1d", "7y"])
def test_dlq_purge_older_than_names_the_accepted_forms(store: EventStore, bad: str) -> None:
    code, output = run("dlq", "purge", "--older-than", bad, "--yes")
    assert code == 2
    assert "is not a duration like 7d, 12h, 30m, 45s or 2w" in output
