"""``relay tokens`` through click's CliRunner over fakeredis: secrets go in on stdin and never come out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet

from tests.worker.tokens.support import SCOPE_LISTS
from worker.cli import main
from worker.cli.tokens import git_host_matches
from worker.config import Settings
from worker.tokens.keys import parse_keys
from worker.tokens.scopes import parse_scope_list
from worker.tokens.store import TokenStore

SECRET = "a7ee-cli-secret-0123456789abcdef"
NEWER = "a7ee-cli-secret-second-fedcba987"
KEY = Fernet.generate_key().decode()


@pytest.fixture
def relay(
    write_config: Callable[[dict[str, Any]], Settings], fake_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run ``relay ...`` against fakeredis, with a token key and two targets configured."""
    write_config(
        {
            "redis_url": "redis://fake.invalid/0",
            "targets": {
                "gw": {"kind": "api7", "base_url": "http://127.0.0.1:9", "token": "gw-token"},
                "git": {"kind": "coding", "base_url": "http://127.0.0.1:9"},
                "depot": {"kind": "coding", "base_url": "https://e.coding.net"},
                "mirror": {"kind": "bearer", "base_url": "https://git.example.test:8443/api"},
            },
        }
    )
    monkeypatch.setenv("RELAY_TOKEN_KEY", KEY)
    monkeypatch.setattr("worker.store.connection.connect", lambda url: fake_redis)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, ["tokens", *args], input=input, catch_exceptions=False)

    return run


def stored(fake_redis: redis.Redis) -> TokenStore:
    return TokenStore(fake_redis, parse_keys(KEY, origin="test"))


def test_add_reads_the_secret_from_stdin(relay: Callable[..., Result], fake_redis: redis.Redis) -> None:
    result = relay(
        "add", "gw-token", "--target", "gw", "--token-id", "tok-1", "--expires-at", "2030-01-02",
        "--scopes", "project:depot:rw", input=SECRET + "\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "fingerprint" in result.output
    record = stored(fake_redis).get("gw-token")
    assert (record.token_id, record.expires_at, record.scopes) == ("tok-1", 1893542400, ["project:depot:rw"])
    assert stored(fake_redis).current("gw-token").secret.get_secret_value() == SECRET


def test_add_refuses_an_unknown_target_and_an_empty_secret(relay: Callable[..., Result]) -> None:
    assert relay("add", "x", "--target", "nope", input=SECRET).exit_code != 0
    result = relay("add", "x", "--target", "gw", input="\n")
    assert result.exit_code != 0
    assert "no secret given" in result.output


def test_list_json_shows_everything_but_the_secret(relay: Callable[..., Result], fake_redis: redis.Redis) -> None:
    relay("add", "gw-token", "--target", "gw", "--token-id", "tok-1", "--expires-at", "45d", input=SECRET)
    relay("add", "git", "--target", "git", "--expires-at", "never", input=NEWER)

    result = relay("list", "--json")

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert NEWER not in result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["gw-token"]["status"] == "ok"  # rotates by itself; 45 days is not the operator's concern yet
    assert 44.9 < rows["gw-token"]["days_left"] <= 45
    assert rows["git"]["days_left"] is None
    assert rows["git"]["expires_at"] == 0
    assert set(rows["git"]) >= {"fingerprint", "version", "status", "rotated_at", "target", "token_id"}
    table = relay("list").output
    assert "never" in table
    assert SECRET not in table


def test_list_marks_a_token_needing_attention(relay: Callable[..., Result]) -> None:
    relay("add", "git", "--target", "git", "--expires-at", "5d", input=SECRET)
    rows = json.loads(relay("list", "--json").output)
    assert rows[0]["status"] == "warn"


def test_set_installs_a_new_version(relay: Callable[..., Result], fake_redis: redis.Redis) -> None:
    relay("add", "gw-token", "--target", "gw", input=SECRET)
    result = relay("set", "gw-token", "--expires-at", "30d", input=NEWER)

    assert result.exit_code == 0, result.output
    assert "version 2" in result.output
    assert NEWER not in result.output
    credential = stored(fake_redis).current("gw-token")
    assert (credential.version, credential.secret.get_secret_value()) == (2, NEWER)
    history = json.loads(relay("history", "gw-token", "--json").output)
    assert [entry["kind"] for entry in history] == ["set", "added"]


def test_edit_changes_metadata_only(relay: Callable[..., Result], fake_redis: redis.Redis) -> None:
    relay("add", "git", "--target", "git", input=SECRET)
    result = relay("edit", "git", "--description", "CI clone token", "--scopes", "project:depot:ro")
    assert result.exit_code == 0, result.output
    record = stored(fake_redis).get("git")
    assert (record.description, record.scopes, record.version) == ("CI clone token", ["project:depot:ro"], 1)
    assert relay("edit", "git", "--scopes", "has space").exit_code != 0


@pytest.mark.parametrize(("text", "scopes"), SCOPE_LISTS)
def test_the_cli_takes_exactly_the_scopes_the_core_grammar_takes(
    relay: Callable[..., Result], fake_redis: redis.Redis, text: str, scopes: list[str] | None
) -> None:
    relay("add", "git", "--target", "git", input=SECRET)

    result = relay("edit", "git", "--scopes", text)

    if scopes is None:
        assert result.exit_code == 2
        assert "is not of the form resource:scope:ro|rw" in result.output
        with pytest.raises(ValueError, match="is not of the form"):
            parse_scope_list(text)
    else:
        assert result.exit_code == 0, result.output
        assert stored(fake_redis).get("git").scopes == scopes == parse_scope_list(text)


def test_git_credential_answers_get_and_ignores_store(relay: Callable[..., Result]) -> None:
    relay("add", "depot", "--target", "depot", input=SECRET)

    result = relay("git-credential", "depot", "get", input="protocol=https\nhost=e.coding.net\nusername=ci\n\n")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["username=ci", f"password={SECRET}"]

    anonymous = relay("git-credential", "depot", "get", input="protocol=https\nhost=E.Coding.net\n")
    assert anonymous.output.splitlines() == ["username=depot", f"password={SECRET}"]

    for operation in ("store", "erase"):
        ignored = relay("git-credential", "depot", operation, input=f"protocol=https\npassword={SECRET}\n\n")
        assert (ignored.exit_code, ignored.output) == (0, "")


@pytest.mark.parametrize(
    "asked",
    [
        "protocol=https\nhost=evil.example\n",  # a submodule or redirect on another host
        "protocol=https\nhost=e.coding.net.evil.example\n",
        "protocol=https\nhost=e.coding.net:8443\n",  # same host, another port
        "protocol=http\nhost=e.coding.net\n",  # the token must not travel in clear
        "protocol=https\nhost=evil.example@e.coding.net\n",
        "host=e.coding.net\n",  # no protocol
        "protocol=https\n",  # no host
        "",
    ],
)
def test_git_credential_answers_nothing_for_another_host(relay: Callable[..., Result], asked: str) -> None:
    relay("add", "depot", "--target", "depot", input=SECRET)

    result = relay("git-credential", "depot", "get", input=asked + "\n")

    assert (result.exit_code, result.output) == (0, "")


def test_git_credential_compares_the_port_of_the_base_url(relay: Callable[..., Result]) -> None:
    relay("add", "mirror", "--target", "mirror", input=SECRET)

    answered = relay("git-credential", "mirror", "get", input="protocol=https\nhost=git.example.test:8443\n\n")
    assert answered.output.splitlines() == ["username=mirror", f"password={SECRET}"]
    for host in ("git.example.test", "git.example.test:443"):
        refused = relay("git-credential", "mirror", "get", input=f"protocol=https\nhost={host}\n\n")
        assert (refused.exit_code, refused.output) == (0, "")


def test_git_credential_never_answers_for_a_target_over_plain_http(relay: Callable[..., Result]) -> None:
    relay("add", "git", "--target", "git", input=SECRET)  # base_url http://127.0.0.1:9
    result = relay("git-credential", "git", "get", input="protocol=http\nhost=127.0.0.1:9\n\n")
    assert (result.exit_code, result.output) == (0, "")


def test_git_credential_says_why_when_the_tokens_target_is_gone(
    relay: Callable[..., Result], fake_redis: redis.Redis
) -> None:
    stored(fake_redis).add("orphan", "removed-target", SECRET)
    result = relay("git-credential", "orphan", "get", input="protocol=https\nhost=e.coding.net\n\n")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "target 'removed-target', which is not configured" in result.stderr
    assert SECRET not in result.output


@pytest.mark.parametrize(
    ("base_url", "host", "matches"),
    [
        ("https://e.coding.net", "e.coding.net", True),
        ("https://e.coding.net", "e.coding.net:443", True),  # the default port, spelled out
        ("https://e.coding.net:443/open-api", "E.CODING.NET", True),
        ("https://[::1]:8443", "[::1]:8443", True),
        ("https://[::1]:8443", "[::1]", False),
        ("https://e.coding.net", "e.coding.net/other", False),
        ("https://e.coding.net", "e.coding.net%2f", False),
        ("https://e.coding.net", "e.coding.net#", False),
        ("https://e.coding.net", "e.coding.net ", False),
        ("https://e.coding.net", "coding.net", False),
        ("http://e.coding.net", "e.coding.net", False),
    ],
)
def test_git_host_matches(base_url: str, host: str, matches: bool) -> None:
    assert git_host_matches(base_url, {"protocol": "https", "host": host}) is matches


def test_remove_asks_first(relay: Callable[..., Result], fake_redis: redis.Redis) -> None:
    relay("add", "git", "--target", "git", input=SECRET)
    assert relay("remove", "git", input="n\n").exit_code != 0
    assert stored(fake_redis).find("git") is not None
    assert relay("remove", "git", "--yes").exit_code == 0
    assert stored(fake_redis).find("git") is None


def test_check_dry_run_reports_without_sending(relay: Callable[..., Result]) -> None:
    relay("add", "git", "--target", "git", "--expires-at", "5d", input=SECRET)
    result = relay("check", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.output)
    assert report["status"] == "warn"
    assert "would send the 7-day warning" in report["actions"]
    assert SECRET not in result.output


def test_a_missing_key_is_named(relay: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAY_TOKEN_KEY")
    result = CliRunner().invoke(main, ["tokens", "add", "x", "--target", "gw"], input=SECRET)
    assert result.exit_code == 1
    assert "RELAY_TOKEN_KEY is not set" in result.output


def test_a_github_apps_private_key_is_stored_whole(relay: Callable[..., Result], fake_redis: redis.Redis) -> None:
    from tests.support import rsa_key_pair

    private, _ = rsa_key_pair()
    result = relay("add", "app-key", "--target", "mirror", input=private)
    assert result.exit_code == 0, result.output
    assert stored(fake_redis).credential("app-key").secret.get_secret_value() == private
    assert "PRIVATE KEY" not in result.output


def test_a_secret_with_spaces_is_still_refused(relay: Callable[..., Result]) -> None:
    result = CliRunner().invoke(main, ["tokens", "add", "two", "--target", "gw"], input="one two\n")
    assert result.exit_code != 0
    assert "whitespace" in result.output
