"""Commit statuses at GitHub, GitLab and Gitea (the sandbox over HTTP); a failure to report never raises."""

from __future__ import annotations

from typing import Any

import fakeredis
import httpx
import pytest

from tests.support import Sandbox
from tests.worker.repos.support import StaticTokens
from worker.ops import stats
from worker.repos.config import RepoConfig
from worker.repos.statuses import REPORTERS, CommitState, CommitStatus, StatusReporter, one_line

SHA = "a" * 40
STORY = "https://relay.example.com/status/events/evt_1"


def forge_token(sandbox: Sandbox, forge: str) -> str:
    if forge == "gitlab":
        answer = httpx.post(f"{sandbox.url}/_sandbox/forges/gitlab/tokens", json={"scopes": ["api"]}, timeout=5)
    else:
        answer = httpx.post(f"{sandbox.url}/_sandbox/forges/tokens", json={"forge": forge}, timeout=5)
    token: str = answer.json()["token"]
    return token


def statuses(sandbox: Sandbox) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = httpx.get(f"{sandbox.url}/_sandbox/forges/statuses", timeout=5).json()
    return answer


def reporter_for(sandbox: Sandbox, forge: str, secret: str, counted: list[tuple[str, str]]) -> StatusReporter:
    api = {"github": sandbox.url, "gitea": f"{sandbox.url}/api/v1", "gitlab": f"{sandbox.url}/api/v4"}.get(forge)
    config = RepoConfig.model_validate(
        {"url": "https://forge.example.com/acme/pay-ments.git", "token": "bot", "forge": forge, "api_url": api}
    )
    return StatusReporter({"payments": config}, StaticTokens({"bot": secret}), count=lambda *c: counted.append(c))


@pytest.mark.parametrize(
    ("forge", "sent_state"),
    [("github", "failure"), ("gitea", "failure"), ("gitlab", "failed")],
)
def test_success_and_failure_reach_the_forge(sandbox: Sandbox, forge: str, sent_state: str) -> None:
    counted: list[tuple[str, str]] = []
    reporter = reporter_for(sandbox, forge, forge_token(sandbox, forge), counted)

    assert reporter.report("payments", SHA, CommitStatus(CommitState.PENDING, "applying", STORY)) == "sent"
    assert reporter.report("payments", SHA, CommitStatus(CommitState.SUCCESS, "applied 3 services", STORY)) == "sent"
    assert reporter.report("payments", SHA, CommitStatus(CommitState.FAILURE, "plan refused", STORY)) == "sent"

    seen = statuses(sandbox)
    assert [status["state"] for status in seen] == ["pending", "success", sent_state]
    assert {(s["forge"], s["project"], s["sha"], s["context"], s["target_url"]) for s in seen} == {
        (forge, "acme/pay-ments", SHA, "relay", STORY)
    }
    assert counted == [("payments", "sent")] * 3


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_a_refused_token_is_logged_and_counted_never_raised(
    sandbox: Sandbox, forge: str, caplog: pytest.LogCaptureFixture
) -> None:
    counted: list[tuple[str, str]] = []
    reporter = reporter_for(sandbox, forge, "not-a-token-of-this-forge-000", counted)

    outcome = reporter.report("payments", SHA, CommitStatus(CommitState.SUCCESS, "done"))

    assert outcome == "failed"
    assert counted == [("payments", "failed")]
    assert "HTTP 401" in caplog.text
    assert "not-a-token-of-this-forge-000" not in caplog.text
    assert statuses(sandbox) == []


def test_an_unreachable_forge_is_a_failed_outcome() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    config = RepoConfig.model_validate({"url": "https://github.com/acme/pay.git", "token": "bot", "forge": "github"})
    reporter = StatusReporter({"pay": config}, StaticTokens({"bot": "ghp_x"}), transport=httpx.MockTransport(refuse))
    assert reporter.report("pay", SHA, CommitStatus(CommitState.PENDING, "x")) == "failed"


@pytest.mark.parametrize("forge", ["coding", "git"])
def test_forges_without_a_status_api_are_unsupported(forge: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing must be sent")

    config = RepoConfig.model_validate({"url": "https://e.coding.net/a/b.git", "token": "bot", "forge": forge})
    reporter = StatusReporter({"b": config}, StaticTokens({"bot": "x"}), transport=httpx.MockTransport(fail))
    assert REPORTERS[forge] is None
    assert reporter.report("b", SHA, CommitStatus(CommitState.SUCCESS, "x")) == "unsupported"


def test_every_forge_kind_has_a_table_entry() -> None:
    from typing import get_args

    from worker.repos.config import ForgeKind

    assert set(REPORTERS) == set(get_args(ForgeKind))


def test_the_request_uses_each_forges_documented_shape() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json={})

    repos = {
        "hub": RepoConfig.model_validate({"url": "https://github.com/acme/pay.git", "token": "bot", "forge": "github"}),
        "lab": RepoConfig.model_validate(
            {"url": "https://gitlab.example.com/g/sub/pay.git", "token": "bot", "forge": "gitlab"}
        ),
        "tea": RepoConfig.model_validate(
            {"url": "https://gitea.example.com/acme/pay.git", "token": "bot", "forge": "gitea"}
        ),
    }
    reporter = StatusReporter(repos, StaticTokens({"bot": "secret"}), transport=httpx.MockTransport(record))
    for name in repos:
        reporter.report(name, SHA, CommitStatus(CommitState.FAILURE, "no"))

    assert [str(request.url) for request in sent] == [
        f"https://api.github.com/repos/acme/pay/statuses/{SHA}",
        f"https://gitlab.example.com/api/v4/projects/g%2Fsub%2Fpay/statuses/{SHA}",
        f"https://gitea.example.com/api/v1/repos/acme/pay/statuses/{SHA}",
    ]
    assert [request.headers.get("authorization") for request in sent] == ["Bearer secret", None, "token secret"]
    assert sent[1].headers["private-token"] == "secret"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("short", "short"), ("two\nlines\t here", "two lines here"), ("x" * 200, "x" * 139 + "…")],
)
def test_the_description_is_one_line_of_at_most_140_characters(text: str, expected: str) -> None:
    assert one_line(text) == expected
    assert len(one_line(text)) <= 140


def test_a_long_description_is_cut_before_github_refuses_it(sandbox: Sandbox) -> None:
    counted: list[tuple[str, str]] = []
    reporter = reporter_for(sandbox, "github", forge_token(sandbox, "github"), counted)
    assert reporter.report("payments", SHA, CommitStatus(CommitState.SUCCESS, "word " * 100)) == "sent"
    assert len(statuses(sandbox)[0]["description"]) == 140


def test_a_link_that_is_not_http_is_left_out(sandbox: Sandbox) -> None:
    reporter = reporter_for(sandbox, "gitea", forge_token(sandbox, "gitea"), [])
    reporter.report("payments", SHA, CommitStatus(CommitState.SUCCESS, "ok", "javascript:alert(1)"))
    assert statuses(sandbox)[0]["target_url"] is None


def test_outcomes_are_counted_on_metrics() -> None:
    client = fakeredis.FakeRedis()
    stats.record_commit_status(client, "payments", "failed")
    stats.record_commit_status(client, "payments", "failed")
    metric = next(m for m in stats.read_families(client) if m.name == "relay_commit_statuses")
    assert [(s.labels, s.value) for s in metric.samples] == [({"repo": "payments", "outcome": "failed"}, 2.0)]
