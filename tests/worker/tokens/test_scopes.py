"""Token scopes: parsing ``resource:scope:ro|rw``, which required scopes a grant misses, and the check before a call."""

from __future__ import annotations

import pytest

from tests.worker.tokens.support import SCOPE_LISTS
from worker.config import Settings
from worker.errors import PermanentError, RuleError
from worker.targets import ConfigTokens
from worker.tokens.scopes import granted_scopes, missing_scopes, parse_scope, parse_scope_list, require_scopes
from worker.tokens.store import TokenStore


@pytest.mark.parametrize(
    ("scope", "parsed"),
    [
        ("project:depot:rw", ("project:depot", "rw")),
        ("project:depot:ro", ("project:depot", "ro")),
        (" Project:Depot:RO ", ("project:depot", "ro")),
        ("project:depot", ("project:depot", None)),
        ("user", ("user", None)),
        ("rw", ("rw", None)),
        ("team_member:list-all.v2:ro", ("team_member:list-all.v2", "ro")),
    ],
)
def test_parse_scope(scope: str, parsed: tuple[str, str | None]) -> None:
    assert parse_scope(scope) == parsed


@pytest.mark.parametrize("scope", ["", "project depot", "project::ro", ":ro", "project:", "a:b:rw!"])
def test_parse_scope_refuses_malformed_scopes(scope: str) -> None:
    with pytest.raises(ValueError, match=r"is not of the form resource:scope:ro\|rw"):
        parse_scope(scope)


@pytest.mark.parametrize(("text", "scopes"), SCOPE_LISTS)
def test_parse_scope_list(text: str, scopes: list[str] | None) -> None:
    if scopes is None:
        with pytest.raises(ValueError, match=r"is not of the form resource:scope:ro\|rw"):
            parse_scope_list(text)
    else:
        assert parse_scope_list(text) == scopes
        assert all(parse_scope(scope) for scope in scopes)  # each one means something to the check before a call


@pytest.mark.parametrize(
    ("required", "granted", "missing"),
    [
        ([], [], []),
        ([], ["project:depot:rw"], []),
        (["project:depot:ro"], ["project:depot:ro"], []),
        (["project:depot:rw"], ["project:depot:rw"], []),
        (["project:depot:ro"], ["project:depot:rw"], []),  # rw implies ro
        (["project:depot:rw"], ["project:depot:ro"], ["project:depot:rw"]),
        (["project:depot:rw"], [], ["project:depot:rw"]),
        (["project:depot:ro"], ["project:issue:rw"], ["project:depot:ro"]),
        (["project:depot:ro"], ["project:rw"], ["project:depot:ro"]),  # no hierarchy between resources
        (["project:depot:rw"], ["project:depot"], []),  # a grant without suffix is full access
        (["project:depot"], ["project:depot:ro"], []),  # a requirement without suffix needs any access
        (["project:depot"], ["project:issue:ro"], ["project:depot"]),
        ([" Project:Depot:RW "], ["project:depot:rw"], []),
        (["project:depot:ro"], ["PROJECT:DEPOT:RW"], []),
        (["b:x:rw", "a:x:ro", "b:x:rw"], [], ["b:x:rw", "a:x:ro"]),  # in order, once
        (["a:x:rw", "b:x:ro"], ["b:x:rw"], ["a:x:rw"]),
        (["a:x:ro"], ["a x ro", "a:x:ro"], []),  # unreadable grants are skipped
        (["a:x:rw"], ["a:x:ro", "a:x:rw"], []),  # the highest grant counts
    ],
)
def test_missing_scopes(required: list[str], granted: list[str], missing: list[str]) -> None:
    assert missing_scopes(required, granted) == missing
    assert missing_scopes(required, set(granted)) == missing


def test_missing_scopes_refuses_a_malformed_requirement() -> None:
    with pytest.raises(ValueError, match="'bad scope'"):
        missing_scopes(["bad scope"], ["a:ro"])


def test_granted_scopes_are_known_only_from_the_token_store(store: TokenStore) -> None:
    store.add("ci", "coding", "coding-token-secret", scopes=["project:ci:rw"])
    store.add("bare", "coding", "other-token-secret")

    assert granted_scopes(store, "ci") == {"project:ci:rw"}
    assert granted_scopes(store, "bare") is None  # no scopes recorded: unknown, not "none"
    assert granted_scopes(store, "absent") is None


@pytest.mark.parametrize(
    ("granted", "required", "error"),
    [
        (None, ["project:ci:rw"], None),  # unknown grants never block
        (["project:ci:rw"], [], None),
        (["project:ci:rw"], ["project:ci:ro"], None),
        (["project:ci:ro"], ["project:depot:ro", "project:ci:rw"],
         "coding: token 'ci' does not grant the required scope(s) project:depot:ro, project:ci:rw"),
    ],
)  # fmt: skip
def test_require_scopes(store: TokenStore, granted: list[str] | None, required: list[str], error: str | None) -> None:
    store.add("ci", "coding", "coding-token-secret", scopes=granted or [])
    if error is None:
        require_scopes(store, "ci", target="coding", required=required)
        return
    with pytest.raises(PermanentError) as caught:
        require_scopes(store, "ci", target="coding", required=required)
    assert str(caught.value) == error


def test_a_malformed_required_scope_is_a_rule_error(store: TokenStore) -> None:
    store.add("ci", "coding", "coding-token-secret", scopes=["project:ci:rw"])
    with pytest.raises(RuleError, match="requires: scope 'bad scope'"):
        require_scopes(store, "ci", target="coding", required=["bad scope"])


def test_tokens_from_the_configuration_grant_nothing_known() -> None:
    settings = Settings(targets={"coding": {"kind": "coding", "base_url": "http://coding.test", "token_secret": "x"}})
    require_scopes(ConfigTokens(settings), "coding", target="coding", required=["project:ci:rw"])
