"""Forge tokens on real parts: Redis, the sandbox's GitLab over HTTP, a real Celery worker and the receiver.

A GitLab personal access token rotates while a worker keeps calling GitLab with it: the old secret dies, every
call after it succeeds. A rotation whose answer is lost ends in an alert, with exactly one rotate call (a second
one with the old secret would make GitLab revoke the whole token family).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from click.testing import CliRunner
from cryptography.fernet import Fernet

from tests.integration.support import Stack
from tests.support import Sandbox, Server, rsa_key_pair, wait_for, wait_for_event
from worker.cli import main
from worker.config import Settings
from worker.store.events import EventStatus, EventStore
from worker.tokens.keys import parse_keys
from worker.tokens.records import TokenStatus
from worker.tokens.store import TokenStore

pytestmark = pytest.mark.integration

KEY = Fernet.generate_key().decode()
WEBHOOK_SECRET = "github-webhook-secret-for-forge-tests"
SELF = "/api/v4/personal_access_tokens/self"
ROTATE = SELF + "/rotate"


@pytest.fixture
def inbox(serve_app: Callable[[Any], Server]) -> list[str]:
    """A webhook channel that keeps the texts it receives."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    texts: list[str] = []

    async def receive(request: Request) -> JSONResponse:
        texts.append((await request.json())["text"])
        return JSONResponse({"ok": True})

    server = serve_app(Starlette(routes=[Route("/hook", receive, methods=["POST"])]))
    texts.append(f"{server.url}/hook")  # the first entry is the channel's URL
    return texts


@pytest.fixture
def settings(
    write_config: Callable[[dict[str, Any]], Settings],
    redis_url: str,
    sandbox: Sandbox,
    inbox: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    monkeypatch.setenv("RELAY_TOKEN_KEY", KEY)
    return write_config(
        {
            "sources": {"github": {"kind": "github", "secret": WEBHOOK_SECRET}},
            "targets": {"lab": {"kind": "gitlab", "base_url": sandbox.url, "token": "gl-bot", "read_timeout": 1}},
            "channels": {"ops": {"kind": "webhook", "url": inbox[0]}},
            "rules": [
                {
                    "name": "who-am-i",
                    "on": {"source": "github", "event": "push"},
                    "do": [{"call": "lab", "method": "GET", "path": SELF}],
                }
            ],
            "tokens": {"lock_seconds": 20},
        }
    )


@pytest.fixture
def store(redis_client: redis.Redis) -> TokenStore:
    return TokenStore(redis_client, parse_keys(KEY, origin="RELAY_TOKEN_KEY"))


@pytest.fixture
def old(sandbox: Sandbox, store: TokenStore) -> str:
    """A GitLab token made in the sandbox's GitLab, stored as ``gl-bot``."""
    secret: str = httpx.post(
        f"{sandbox.url}/_sandbox/forges/gitlab/tokens", json={"name": "relay", "scopes": ["api"]}, timeout=5
    ).json()["token"]
    store.add("gl-bot", "lab", secret, expires_at=int(time.time() + 5 * 86400))
    return secret


def gitlab_status(sandbox: Sandbox, secret: str) -> int:
    """Whether GitLab takes ``secret`` (through another route than the worker's, so its calls stay countable)."""
    return httpx.post(
        f"{sandbox.url}/api/v4/projects/acme%2Fpay/statuses/{'e' * 40}",
        headers={"PRIVATE-TOKEN": secret},
        json={"state": "pending"},
        timeout=5,
    ).status_code


def rotate_calls(sandbox: Sandbox) -> int:
    return len([r for r in sandbox.requests() if r["path"] == ROTATE and r["method"] == "POST"])


def post_pushes(running: Stack, count: int) -> list[str]:
    return [running.deliver({"n": n}) for n in range(count)]


def test_a_gitlab_token_rotates_while_a_worker_calls_gitlab_and_no_call_fails(
    settings: Settings,
    stack: Callable[..., Stack],
    sandbox: Sandbox,
    store: TokenStore,
    old: str,
    redis_client: redis.Redis,
    inbox: list[str],
) -> None:
    running = stack(settings)
    events = EventStore(redis_client, retention_seconds=600)
    before = post_pushes(running, 5)
    for event_id in before:
        wait_for_event(events, event_id, EventStatus.DONE, timeout=30)

    result = CliRunner().invoke(main, ["tokens", "rotate", "gl-bot"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "rotated to version 2" in result.output
    new = store.current("gl-bot").secret.get_secret_value()
    assert new not in result.output
    assert gitlab_status(sandbox, old) == 401
    after = post_pushes(running, 5)
    for event_id in after:
        wait_for_event(events, event_id, EventStatus.DONE, timeout=30)
    calls = [r for r in sandbox.requests() if r["path"] == SELF and r["method"] == "GET"]
    assert len(calls) >= 10
    assert {r["status"] for r in calls} == {200}  # every call before and after the rotation succeeded
    assert rotate_calls(sandbox) == 1
    wait_for(lambda: any("rotated to version 2" in text for text in inbox[1:]), what="the rotation notice")
    assert all(new not in text and old not in text for text in inbox[1:])


def test_a_lost_rotate_answer_ends_in_an_alert_and_exactly_one_rotate_call(
    settings: Settings, sandbox: Sandbox, store: TokenStore, old: str, inbox: list[str]
) -> None:
    # GitLab rotates, then answers after the client's read timeout: the answer is lost, the act is not.
    sandbox.fault(latency_ms=2500, when="after", path=ROTATE, method="POST")

    result = CliRunner().invoke(main, ["tokens", "rotate", "gl-bot"], catch_exceptions=False)

    assert result.exit_code == 1
    assert "invalid" in result.output
    record = store.get("gl-bot")
    assert (record.status, record.version) == (TokenStatus.INVALID, 1)
    wait_for(lambda: rotate_calls(sandbox) == 1, what="the sandbox to record the rotate call")
    assert gitlab_status(sandbox, old) == 401
    assert rotate_calls(sandbox) == 1
    tokens = httpx.get(f"{sandbox.url}/_sandbox/forges/gitlab/tokens", timeout=5).json()
    assert [token["active"] for token in tokens] == [False, True]  # no reuse: the family was not revoked
    alerts = wait_for(lambda: [text for text in inbox[1:] if "no longer valid" in text], what="the alert")
    assert "GitLab (User settings > Access tokens)" in alerts[0]
    assert "relay tokens set gl-bot" in alerts[0]


def test_a_worker_calls_github_with_an_installation_token_it_minted(
    write_config: Callable[[dict[str, Any]], Settings],
    sandbox: Sandbox,
    stack: Callable[..., Stack],
    store: TokenStore,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_TOKEN_KEY", KEY)
    monkeypatch.setenv("RELAY_LOG_LEVEL", "DEBUG")
    private, public = rsa_key_pair()
    httpx.post(
        f"{sandbox.url}/_sandbox/forges/github/apps",
        json={"app_id": 4242, "public_key": public, "installations": [7]},
        timeout=5,
    ).raise_for_status()
    settings = write_config(
        {
            "sources": {"github": {"kind": "github", "secret": WEBHOOK_SECRET}},
            "targets": {
                "hub": {"kind": "github", "base_url": sandbox.url, "token": "gh-app", "app_id": "4242",
                        "installation_id": 7},
            },
            "rules": [{"name": "limits", "on": {"source": "github"}, "do": [{"call": "hub", "method": "GET",
                                                                              "path": "/rate_limit"}]}],
        }
    )  # fmt: skip
    store.add("gh-app", "hub", private)
    running = stack(settings)
    worker = running.workers[0]
    events = EventStore(redis_client, retention_seconds=600)

    for event_id in post_pushes(running, 3):
        wait_for_event(events, event_id, EventStatus.DONE, timeout=30)

    requests = sandbox.requests()
    mints = [r for r in requests if r["path"] == "/app/installations/7/access_tokens"]
    calls = [r for r in requests if r["path"] == "/rate_limit"]
    assert [r["status"] for r in mints] == [201]  # minted once, then cached
    assert [r["status"] for r in calls] == [200, 200, 200]
    assert "ghs_" not in worker.output()  # installation tokens never reach a log line
    assert "PRIVATE KEY" not in worker.output()
