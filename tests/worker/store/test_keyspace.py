"""The keyspace table: its rows parse, match the key builders, and no module spells a key itself.

That a real run leaves only keys of the table: tests/integration/test_keyspace.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT
from worker.store import keyspace

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
        (keyspace.GITOPS_INVENTORY + "gw:default", "hash"),
        (keyspace.GITOPS_LOCK + "gw:default", "string"),
        (keyspace.GITOPS_JOURNAL + "evt_1:deploy:0", "hash"),
        (keyspace.GITOPS_GROUPS, "set"),
    ],
)
def test_each_key_builder_gives_a_key_of_one_row_of_its_type(key: str, kind: str) -> None:
    assert keyspace.row_type(key) == kind


def test_a_key_outside_the_table_matches_no_row() -> None:
    assert keyspace.row_type("relay:unknown:thing") is None
    assert keyspace.row_type("relay.events\x06\x164") is None  # not one of kombu's priority steps


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
