"""The keyspace table: its rows parse, match the key builders, no module spells a key itself, and a real run matches."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support import ROOT, Server, github_delivery, wait_for_event
from worker.config import Settings
from worker.store import keyspace
from worker.store.events import EventStatus, EventStore

REDIS_TYPES = {"string", "hash", "list", "set", "zset", "stream"}
# Modules that may spell a ``relay:`` key: the keyspace itself, and the sandbox (someone else's API, not Relay's).
ALLOWED = {Path("worker/store/keyspace.py")}
ALLOWED_TREES = (Path("worker/devtools/sandbox"),)


def test_every_row_has_a_redis_type_and_a_unique_pattern() -> None:
    rows = keyspace.rows()
    assert len(rows) >= 25
    assert {row.type for row in rows} <= REDIS_TYPES
    assert len({row.pattern for row in rows}) == len(rows)


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (keyspace.event_key("evt_0190f3a2b4c5d6e7f8a9"), "hash"),
        (keyspace.INDEX_KEY, "zset"),
        (keyspace.dedup_key("github", "7c2f-11ef:9"), "string"),
        (keyspace.pending_key("github"), "zset"),
        (keyspace.DLQ_KEY, "zset"),
        (keyspace.history_key("evt_1"), "list"),
        (keyspace.event_lock_key("evt_1"), "string"),
        (keyspace.JOB_LOCK + "sweep", "string"),
        (keyspace.ROTATION_LOCK + "gw", "string"),
        (keyspace.alive_key("host-1:4242"), "string"),
        (keyspace.minute_key(29_000_000), "hash"),
        (keyspace.STATS_KEY + "calls", "hash"),
        (keyspace.token_key("gw"), "hash"),
        (keyspace.token_history_key("gw"), "list"),
        (keyspace.token_sent_key("gw", 3, "expiring:7d"), "string"),
        *[(key, "list") for key in keyspace.queue_keys("relay.events")],
        (keyspace.UNACKED_KEY, "hash"),
        (keyspace.UNACKED_INDEX_KEY, "zset"),
    ],
)
def test_each_key_builder_gives_a_key_of_one_row_of_its_type(key: str, kind: str) -> None:
    assert _row_of(key) == kind


def test_a_key_outside_the_table_matches_no_row() -> None:
    assert _row_of("relay:unknown:thing") is None
    assert _row_of("relay.events\x06\x164") is None  # not one of kombu's priority steps


def test_no_module_outside_the_keyspace_spells_a_relay_key() -> None:
    found = [f"{path}:{line}: {text!r}" for path, line, text in _key_literals()]
    assert found == [], "ask worker.store.keyspace for these keys:\n" + "\n".join(found)


def _key_literals() -> Iterator[tuple[Path, int, str]]:
    for top in ("worker", "tasks", "webhooks"):
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in ALLOWED or any(tree in relative.parents for tree in ALLOWED_TREES):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                # "relay: <message>" (a space after the colon) is an error message, not a key.
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and _looks_like_key(node.value):
                    yield relative, node.lineno, node.value


def _looks_like_key(text: str) -> bool:
    return text.startswith("relay:") and not text.startswith("relay: ") and "\n" not in text


def _row_of(key: str) -> str | None:
    return next((row.type for row in keyspace.rows() if row.matches(key)), None)


@pytest.fixture
def relay(relay_stack: Callable[[list[dict[str, Any]]], tuple[Server, Settings]]) -> Server:
    """One rule that calls the sandbox, one whose call the sandbox refuses."""
    receiver, _ = relay_stack(
        [
            {
                "name": "list-groups-on-push",
                "on": {"source": "github", "event": "push"},
                "do": [{"call": "gw", "method": "GET", "path": "/api/gateway_groups"}],
            },
            {
                "name": "publish-on-release",
                "on": {"source": "github", "event": "release"},
                "do": [{"call": "gw", "method": "POST", "path": "/api/no_such_resource", "json": {}}],
            },
        ]
    )
    return receiver


@pytest.mark.integration
def test_every_key_a_real_run_leaves_is_a_row_of_the_table_with_its_type(
    relay: Server, redis_client: redis.Redis
) -> None:
    store = EventStore(redis_client, retention_seconds=60)
    done = _post(relay, github_delivery({"ref": "refs/heads/main"}, delivery="d-push"))
    _post(relay, github_delivery({"ref": "refs/heads/main"}, delivery="d-push"))  # a duplicate
    failed = _post(relay, github_delivery({"action": "published"}, event="release", delivery="d-release"))
    skipped = _post(relay, github_delivery({"action": "opened"}, event="issues", delivery="d-issue"))
    wait_for_event(store, done, EventStatus.DONE)
    wait_for_event(store, failed, EventStatus.FAILED)
    wait_for_event(store, skipped, EventStatus.SKIPPED)

    left = {_text(key): _text(redis_client.type(key)) for key in redis_client.scan_iter()}
    # "none": gone between SCAN and TYPE (a heartbeat or a short-lived lock expiring meanwhile), so not left.
    unnamed = {key: kind for key, kind in left.items() if kind != "none" and _row_of(key) != kind}

    assert unnamed == {}, f"keys the keyspace table does not name (with their type): {unnamed}"
    for key in (keyspace.event_key(done), keyspace.history_key(done), keyspace.DLQ_KEY, keyspace.INDEX_KEY):
        assert key in left  # the run wrote what the table says it writes
    assert keyspace.event_lock_key(done) not in left  # released at the run's end


def _post(receiver: Server, delivery: dict[str, Any]) -> str:
    response = httpx.post(f"{receiver.url}/hooks/github", **delivery)
    assert response.status_code in (200, 202), response.text
    return str(response.json()["event_id"])


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
