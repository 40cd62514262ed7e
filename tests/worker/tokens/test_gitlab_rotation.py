"""GitLab personal access tokens rotate through the sandbox's GitLab (over HTTP), chosen by the target kinds table.

The sandbox's GitLab revokes the old secret at once and, like GitLab, revokes the whole token family when a
rotated token is presented to ``self/rotate`` again: so a second rotate with the old secret would show up as the
new secret dying too.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import redis

from tests.support import Sandbox
from tests.worker.tokens.support import Sent, new_cipher
from worker.config import Settings
from worker.targets.client import TargetClient
from worker.tokens.checker import TokenChecker
from worker.tokens.notify import Notifier
from worker.tokens.records import TokenStatus
from worker.tokens.rotation import RotationOutcome, Rotator
from worker.tokens.store import TokenStore

ROTATE = "/api/v4/personal_access_tokens/self/rotate"
SELF = "/api/v4/personal_access_tokens/self"


@pytest.fixture
def settings(sandbox: Sandbox) -> Settings:
    return Settings(
        targets={"lab": {"kind": "gitlab", "base_url": sandbox.url, "token": "gl-bot"}},
        channels={"ops": {"kind": "webhook", "url": "http://hooks.test/ops"}},
        tokens={"lock_seconds": 20},
    )


@pytest.fixture
def store(fake_redis: redis.Redis) -> TokenStore:
    return TokenStore(fake_redis, new_cipher())


@pytest.fixture
def rotator(store: TokenStore, settings: Settings, sent: Sent) -> Rotator:
    return Rotator(store, settings, Notifier(store, settings, send=sent), settle_seconds=0)


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def old(sandbox: Sandbox, store: TokenStore) -> dict[str, Any]:
    """A GitLab token made in the sandbox's GitLab and stored under ``gl-bot`` (its id unknown to Relay)."""
    created: dict[str, Any] = httpx.post(
        f"{sandbox.url}/_sandbox/forges/gitlab/tokens", json={"name": "relay", "scopes": ["api"]}, timeout=5
    ).json()
    store.add("gl-bot", "lab", created["token"], expires_at=int(time.time() + 5 * 86400))
    return created


def status_of(sandbox: Sandbox, secret: str) -> int:
    return httpx.get(f"{sandbox.url}{SELF}", headers={"PRIVATE-TOKEN": secret}, timeout=5).status_code


def rotate_calls(sandbox: Sandbox) -> int:
    return len([r for r in sandbox.requests() if r["path"] == ROTATE and r["method"] == "POST"])


def gitlab_tokens(sandbox: Sandbox) -> list[dict[str, Any]]:
    tokens: list[dict[str, Any]] = httpx.get(f"{sandbox.url}/_sandbox/forges/gitlab/tokens", timeout=5).json()
    return tokens


def test_a_gitlab_token_rotates_the_old_secret_dies_and_calls_after_it_succeed(
    rotator: Rotator, store: TokenStore, sandbox: Sandbox, old: dict[str, Any], settings: Settings
) -> None:
    result = rotator.rotate("gl-bot", reason="test")

    assert result.outcome == RotationOutcome.ROTATED
    record = store.get("gl-bot")
    assert record.version == 2
    assert record.token_id is not None
    assert record.token_id != str(old["id"])  # the new id is stored with the new secret
    new_secret = store.credential("gl-bot").secret.get_secret_value()
    assert status_of(sandbox, old["token"]) == 401
    assert status_of(sandbox, new_secret) == 200
    client = TargetClient("lab", settings.targets["lab"], store)
    try:
        assert [client.call("GET", SELF).status_code for _ in range(3)] == [200, 200, 200]
    finally:
        client.close()
    assert rotate_calls(sandbox) == 1
    assert old["token"] not in str(sandbox.requests())


def test_a_lost_rotate_answer_is_probed_never_rotated_again_and_ends_in_an_alert(
    rotator: Rotator, store: TokenStore, sandbox: Sandbox, old: dict[str, Any], sent: Sent
) -> None:
    # GitLab rotates, then the answer is lost on the way back.
    sandbox.fault(status=502, when="after", path=ROTATE, method="POST")

    result = rotator.rotate("gl-bot", reason="test")

    assert result.outcome == RotationOutcome.INVALID
    assert rotate_calls(sandbox) == 1
    # No reuse: the family was not revoked (the token GitLab issued is still active, though Relay never saw it).
    assert [token["active"] for token in gitlab_tokens(sandbox)] == [False, True]
    assert store.get("gl-bot").status == TokenStatus.INVALID
    alert = sent.texts()[-1]
    assert "GitLab (User settings > Access tokens)" in alert
    assert "relay tokens set gl-bot" in alert


def test_a_rotate_refused_before_acting_leaves_the_old_secret_working(
    rotator: Rotator, store: TokenStore, sandbox: Sandbox, old: dict[str, Any]
) -> None:
    sandbox.fault(status=502, when="before", path=ROTATE, method="POST")

    result = rotator.rotate("gl-bot", reason="test")

    assert result.outcome == RotationOutcome.NOT_ROTATED
    assert store.get("gl-bot").status == TokenStatus.OK
    assert status_of(sandbox, old["token"]) == 200
    assert rotate_calls(sandbox) == 1
    assert rotator.rotate("gl-bot", reason="next check").outcome == RotationOutcome.ROTATED


def test_when_gitlab_cannot_be_reached_to_tell_operators_get_the_steps(
    rotator: Rotator, store: TokenStore, sandbox: Sandbox, old: dict[str, Any], sent: Sent
) -> None:
    sandbox.fault(status=502, when="after", path=ROTATE, method="POST")
    sandbox.fault(status=503, count=20, path=SELF)

    result = rotator.rotate("gl-bot", reason="test")

    assert result.outcome == RotationOutcome.UNKNOWN
    assert rotate_calls(sandbox) == 1
    assert store.get("gl-bot").status == TokenStatus.ROTATING
    assert "cannot be reached to tell" in sent.texts()[-1]
    assert "relay tokens set gl-bot" in sent.texts()[-1]


def test_the_check_reads_the_expiry_from_gitlab(
    store: TokenStore, settings: Settings, sent: Sent, old: dict[str, Any]
) -> None:
    report = TokenChecker(store, settings, send=sent, settle_seconds=0).check("gl-bot")
    assert any("expiry from the admin API" in action for action in report.actions)
    expires = store.get("gl-bot").expires_at
    assert expires is not None
    assert 29 * 86400 < expires - time.time() < 31 * 86400  # the sandbox made it for 30 days
