"""GitHub App installation tokens against the sandbox's GitHub (over HTTP, on the test's clock): minted on demand,
cached, renewed before their hour ends, never logged; the App key checked by the token check."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from tests.support import FakeClock, Server, rsa_key_pair
from tests.worker.tokens.support import Sent, new_cipher
from worker.config import Settings
from worker.errors import AuthError
from worker.ops.logs import RedactingFilter
from worker.repos.config import RepoConfig
from worker.repos.statuses import CommitState, CommitStatus, StatusReporter
from worker.tokens.checker import TokenChecker
from worker.tokens.github_app import AppTokens, with_app_tokens
from worker.tokens.records import TokenStatus
from worker.tokens.store import TokenStore

MINT = "/app/installations/7/access_tokens"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def github(serve_app: Callable[[Any], Server], clock: FakeClock) -> str:
    """The sandbox (its GitHub) on the test's clock, with App 4242 installed as installation 7."""
    from worker.devtools.sandbox import create_app

    return serve_app(create_app("bootstrap-secret-for-app-tests", clock=clock)).url


@pytest.fixture
def key(github: str) -> str:
    private, public = rsa_key_pair()
    httpx.post(
        f"{github}/_sandbox/forges/github/apps",
        json={"app_id": 4242, "public_key": public, "installations": [7]},
        timeout=5,
    ).raise_for_status()
    return private


@pytest.fixture
def settings(github: str) -> Settings:
    return Settings(
        targets={
            "hub": {"kind": "github", "base_url": github, "token": "gh-app", "app_id": "4242", "installation_id": 7}
        },
        channels={"ops": {"kind": "webhook", "url": "http://hooks.test/ops"}},
    )


@pytest.fixture
def store(fake_redis: redis.Redis) -> TokenStore:
    return TokenStore(fake_redis, new_cipher())


def mints(github: str) -> int:
    requests: list[dict[str, Any]] = httpx.get(f"{github}/_sandbox/requests", timeout=5).json()
    return len([r for r in requests if r["path"] == MINT and r["status"] == 201])


def test_an_installation_token_is_minted_on_demand_and_cached(
    store: TokenStore, settings: Settings, key: str, github: str, clock: FakeClock
) -> None:
    store.add("gh-app", "hub", key)
    tokens = AppTokens(store, settings, clock=clock)

    first = tokens.current("gh-app")
    again = tokens.current("gh-app")

    assert first.secret.get_secret_value().startswith("ghs_")
    assert again == first
    assert mints(github) == 1


def test_the_token_is_renewed_before_its_hour_ends(
    store: TokenStore, settings: Settings, key: str, github: str, clock: FakeClock
) -> None:
    store.add("gh-app", "hub", key)
    tokens = AppTokens(store, settings, clock=clock)
    first = tokens.current("gh-app").secret.get_secret_value()

    clock.advance(39 * 60)
    assert tokens.current("gh-app").secret.get_secret_value() == first  # still in its first two thirds
    clock.advance(2 * 60)  # 41 minutes: renewed, 19 minutes before the old one would die
    renewed = tokens.current("gh-app").secret.get_secret_value()

    assert renewed != first
    assert mints(github) == 2
    clock.advance(30 * 60)  # the first token is dead by now; the renewed one still works at GitHub
    status = httpx.post(
        f"{github}/repos/acme/pay/statuses/{'c' * 40}",
        headers={"Authorization": f"Bearer {renewed}"},
        json={"state": "success"},
        timeout=5,
    )
    assert status.status_code == 201


def test_a_new_key_mints_a_new_token_at_once(
    store: TokenStore, settings: Settings, key: str, github: str, clock: FakeClock
) -> None:
    store.add("gh-app", "hub", key)
    tokens = AppTokens(store, settings, clock=clock)
    first = tokens.current("gh-app")
    store.install("gh-app", key, origin=store.get("gh-app").origin)  # `relay tokens set` with the (same) key
    assert tokens.current("gh-app").version == first.version + 1
    assert mints(github) == 2


def test_a_key_github_refuses_is_an_auth_error(
    store: TokenStore, settings: Settings, key: str, clock: FakeClock
) -> None:
    other, _ = rsa_key_pair()
    store.add("gh-app", "hub", other)
    with pytest.raises(AuthError) as caught:
        AppTokens(store, settings, clock=clock).current("gh-app")
    assert caught.value.refused


def test_installation_tokens_and_the_key_are_never_logged(
    store: TokenStore, settings: Settings, key: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(RedactingFilter())  # what Relay's own handlers do
    store.add("gh-app", "hub", key)
    token = AppTokens(store, settings, clock=clock).current("gh-app").secret.get_secret_value()
    logging.getLogger("relay.test").info("minted %s", token)  # even a careless log line is masked
    assert token not in caplog.text
    assert "PRIVATE KEY" not in caplog.text
    assert "relay.targets" in caplog.text  # the minting call was logged, without the token


def test_statuses_go_out_with_the_installation_token(
    store: TokenStore, settings: Settings, key: str, github: str, clock: FakeClock
) -> None:
    store.add("gh-app", "hub", key)
    repo = RepoConfig.model_validate(
        {"url": "https://github.com/acme/pay.git", "token": "gh-app", "forge": "github", "api_url": github}
    )
    reporter = StatusReporter({"pay": repo}, with_app_tokens(store, settings))
    assert reporter.report("pay", "d" * 40, CommitStatus(CommitState.SUCCESS, "applied")) == "sent"


def test_the_check_confirms_the_key_by_minting(
    store: TokenStore, settings: Settings, key: str, clock: FakeClock
) -> None:
    store.add("gh-app", "hub", key)
    report = TokenChecker(store, settings, send=Sent(), clock=clock).check("gh-app")
    assert report.status == TokenStatus.OK
    assert not any("refuses" in action for action in report.actions)


def test_the_check_marks_a_refused_key_invalid(
    store: TokenStore, settings: Settings, key: str, clock: FakeClock
) -> None:
    other, _ = rsa_key_pair()
    store.add("gh-app", "hub", other)
    report = TokenChecker(store, settings, send=Sent(), clock=clock).check("gh-app")
    assert report.status == TokenStatus.INVALID


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"app_id": "4242"}, "needs both app_id and installation_id"),
        ({"kind": "gitlab", "app_id": "1", "installation_id": 2}, "for kind 'github'"),
    ],
)
def test_an_app_needs_both_ids_and_the_github_kind(extra: dict[str, Any], problem: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=problem):
        Settings(targets={"hub": {"kind": "github", "base_url": "https://api.github.com", **extra}})


def test_a_github_tokens_expiry_comes_from_the_answer_header(store: TokenStore, github: str, clock: FakeClock) -> None:
    expires = int(clock() + 20 * 86400)
    secret = httpx.post(
        f"{github}/_sandbox/forges/tokens", json={"forge": "github", "expires_at": expires}, timeout=5
    ).json()["token"]
    settings = Settings(
        targets={"hub": {"kind": "github", "base_url": github, "token": "gh-pat"}},
        channels={"ops": {"kind": "webhook", "url": "http://hooks.test/ops"}},
    )
    store.add("gh-pat", "hub", secret)  # expiry unknown to Relay
    sent = Sent()

    report = TokenChecker(store, settings, send=sent, clock=clock).check("gh-pat")

    assert store.get("gh-pat").expires_at == expires
    assert report.status == TokenStatus.WARN  # 20 days left: the 30-day warning, and no rotation to offer
    assert "relay tokens set gh-pat" in sent.texts()[0]
