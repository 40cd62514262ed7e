"""The ``repos:`` settings: safe URLs, token names, limits, and the reference to a token some target uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from worker.cli import main
from worker.config import Settings
from worker.errors import ConfigError
from worker.repos.config import RepoConfig

TARGET = {"kind": "coding", "base_url": "https://e.coding.net", "token": "coding-bot"}


def test_a_repository_with_defaults() -> None:
    repo = RepoConfig.model_validate({"url": "https://e.coding.net/acme/shop/payments.git", "token": "coding-bot"})
    assert (repo.forge, repo.project_path, repo.host, repo.user) == (
        "git",
        "acme/shop/payments",
        "e.coding.net",
        "relay",
    )
    assert repo.limits.max_fetch_bytes == 256 * 1024 * 1024
    assert repo.limits.timeout_seconds == 120
    assert repo.limits.max_file_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://gitlab.example.com/a/b.git", "http:// only to a loopback address"),
        ("https://oauth2:glpat-secret@gitlab.example.com/a/b.git", "must not hold a user or password"),
        ("ssh://git@gitlab.example.com/a/b.git", "must be an https:// URL"),
        ("file:///srv/git/b.git", "must be an https:// URL"),
        ("https://gitlab.example.com/a/b.git?private_token=x", "must not have a query"),
        ("https://gitlab.example.com/a/b.git\nHost: evil", "whitespace or control"),
        ("https://gitlab.example.com/", "no repository path"),
    ],
)
def test_unsafe_urls_are_refused_naming_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        RepoConfig.model_validate({"url": url, "token": "bot"})
    assert "glpat-secret" not in str(caught.value).split("input_value")[0]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9418/a.git", "http://localhost/a.git", "http://[::1]:80/a.git"])
def test_http_is_allowed_to_loopback_only(url: str) -> None:
    assert RepoConfig.model_validate({"url": url, "token": "bot"}).url == url


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("token", "a b"),
        ("token", "../x"),
        ("forge", "bitbucket"),
        ("project", "a/../b"),
        ("limits", {"max_fetch_bytes": 0}),
    ],
)
def test_bad_fields_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        RepoConfig.model_validate({"url": "https://git.example.com/a/b.git", "token": "bot", field: value})


def test_settings_take_repositories_that_name_a_targets_token() -> None:
    settings = Settings(
        targets={"coding": TARGET},
        repos={
            "payments": {"url": "https://e.coding.net/acme/shop/payments.git", "token": "coding-bot", "forge": "coding"}
        },
    )
    assert settings.repos["payments"].forge == "coding"


def test_a_repository_naming_an_unknown_token_stops_the_settings(
    write_config: Callable[[dict[str, Any]], Settings],
) -> None:
    with pytest.raises(ConfigError, match=r"repos\.payments\.token: unknown token 'nobody'"):
        write_config(
            {
                "targets": {"coding": TARGET},
                "repos": {"payments": {"url": "https://e.coding.net/a/b.git", "token": "nobody"}},
            }
        )


def test_rules_check_reports_an_unknown_token(write_config: Callable[[dict[str, Any]], Settings]) -> None:
    with pytest.raises(ConfigError):
        write_config(
            {
                "targets": {"coding": TARGET},
                "repos": {"payments": {"url": "https://e.coding.net/a/b.git", "token": "nobody"}},
            }
        )
    result = CliRunner().invoke(main, ["rules", "check"])
    assert result.exit_code == 1
    assert "repos.payments.token: unknown token 'nobody'" in result.output


def test_repository_names_are_checked() -> None:
    with pytest.raises(ValidationError, match="may hold only letters"):
        Settings(
            targets={"coding": TARGET}, repos={"../x": {"url": "https://e.coding.net/a/b.git", "token": "coding-bot"}}
        )
