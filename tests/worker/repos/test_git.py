"""The git seam: an isolated environment, the token only there, timeouts, a missing git said clearly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from worker.cli import main
from worker.cli.up import _check_git
from worker.config import Settings
from worker.errors import GitMissing, RepoAuthError, RepoNotFound, RepoUnavailable
from worker.repos.fetch import classify
from worker.repos.git import SubprocessGit, check_git, environment

REPOS = {
    "redis_url": "redis://127.0.0.1:1/0",
    "targets": {"coding": {"kind": "coding", "base_url": "https://e.coding.net", "token": "coding-bot"}},
    "repos": {"payments": {"url": "https://e.coding.net/acme/payments.git", "token": "coding-bot"}},
}


def test_the_environment_is_built_from_scratch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GIT_TRACE_CURL", "1")  # would print request headers
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    monkeypatch.setenv("RELAY_TOKEN_KEY", "not-for-git")
    env = environment({"http.extraHeader": "Authorization: Basic x"}, tmp_path)
    assert "GIT_TRACE_CURL" not in env
    assert "GIT_DIR" not in env
    assert "RELAY_TOKEN_KEY" not in env
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert (env["GIT_CONFIG_COUNT"], env["GIT_CONFIG_KEY_0"]) == ("1", "http.extraHeader")


def test_a_command_past_its_timeout_is_killed_and_retryable(tmp_path: Path) -> None:
    # `git -c alias...` runs a shell alias that sleeps: the seam kills its whole process group.
    git = SubprocessGit()
    with pytest.raises(RepoUnavailable, match=r"did not finish within 0\.5s"):
        git.run(["nap"], cwd=tmp_path, timeout=0.5, config={"alias.nap": "!sleep 30"})


@pytest.mark.parametrize(
    ("stderr", "error", "status"),
    [
        ("fatal: could not read Username for 'https://h': terminal prompts disabled", RepoAuthError, 401),
        ("fatal: Authentication failed for 'https://h/a.git/'", RepoAuthError, 401),
        ("fatal: unable to access 'https://h/a.git/': The requested URL returned error: 403", RepoAuthError, 403),
        ("fatal: repository 'https://h/a.git/' not found", RepoNotFound, None),
        ("fatal: unable to access 'https://h/a.git/': The requested URL returned error: 404", RepoNotFound, 404),
        ("fatal: unable to access 'https://h/a.git/': The requested URL returned error: 502", RepoUnavailable, 502),
        ("fatal: unable to access 'https://h/': Could not resolve host: h", RepoUnavailable, None),
        ("error: RPC failed; curl 56 Recv failure: Connection reset by peer", RepoUnavailable, None),
        ("fatal: early EOF", RepoUnavailable, None),
        ("something nobody has seen", RepoUnavailable, None),
    ],
)
def test_git_failures_mean_what_the_server_said(stderr: str, error: type[Exception], status: int | None) -> None:
    found = classify("payments", stderr, 3)
    assert type(found) is error
    assert found.status_code == status  # type: ignore[attr-defined]
    assert "payments" in str(found)


def test_only_a_401_refuses_the_token() -> None:
    refused = classify("r", "returned error: 401", 7)
    forbidden = classify("r", "returned error: 403", 7)
    assert isinstance(refused, RepoAuthError)
    assert isinstance(forbidden, RepoAuthError)
    assert (refused.refused, refused.token_version) == (True, 7)
    assert forbidden.refused is False


def test_check_git_names_the_version_or_says_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert check_git().startswith("git 2.")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GitMissing, match="apt-get install git"):
        check_git()


def test_relay_up_stops_when_repos_are_configured_and_git_is_missing(
    write_config: Callable[[dict[str, Any]], Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = write_config(REPOS)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(click.ClickException, match="repos: is configured but git is not installed"):
        _check_git(settings)


def test_health_worker_fails_when_repos_are_configured_and_git_is_missing(
    write_config: Callable[[dict[str, Any]], Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from worker.celery_app import app

    write_config(REPOS)
    monkeypatch.setattr(app.control, "ping", lambda **_: [{"celery@host": {"ok": "pong"}}])
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["health", "worker", "--node", "celery@host"])
    assert result.exit_code == 1
    assert "repos: git is not installed" in result.output
    monkeypatch.undo()
    write_config(REPOS)
    monkeypatch.setattr(app.control, "ping", lambda **_: [{"celery@host": {"ok": "pong"}}])
    assert CliRunner().invoke(main, ["health", "worker", "--node", "celery@host"]).exit_code == 0
