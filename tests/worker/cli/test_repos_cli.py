"""``relay repos``: the configured repositories, and a bad read as a usage error (reads: tests/integration)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner

from worker.cli import main
from worker.config import Settings

CONFIG = {
    "redis_url": "redis://127.0.0.1:1/0",
    "targets": {"lab": {"kind": "gitlab", "base_url": "https://gitlab.example.com", "token": "gl-bot"}},
    "repos": {
        "payments": {"url": "https://gitlab.example.com/acme/payments.git", "token": "gl-bot", "forge": "gitlab"}
    },
}


def test_list_shows_each_repository_without_secrets(write_config: Callable[[dict[str, Any]], Settings]) -> None:
    write_config(CONFIG)
    result = CliRunner().invoke(main, ["repos", "list", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["name"], row["forge"], row["token"]) == ("payments", "gitlab", "gl-bot")
    assert row["project"] == "acme/payments"
    assert row["limits"]["max_file_bytes"] == 1024 * 1024


def test_a_pattern_outside_the_repository_is_a_usage_error(
    write_config: Callable[[dict[str, Any]], Settings], monkeypatch: Any
) -> None:
    import fakeredis
    from cryptography.fernet import Fernet

    write_config(CONFIG)
    monkeypatch.setenv("RELAY_TOKEN_KEY", Fernet.generate_key().decode())
    monkeypatch.setattr("worker.store.connection.connect", lambda url: fakeredis.FakeRedis())
    result = CliRunner().invoke(main, ["repos", "read", "payments", "a" * 40, "../etc/passwd"])
    assert result.exit_code == 2
    assert "'..', '.' and empty segments are not allowed" in result.output
