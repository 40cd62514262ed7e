"""The rotation policy and warning thresholds, table-tested on their edges."""

from __future__ import annotations

import pytest
import redis

from tests.worker.tokens.support import BASE, Sent, api7_sandbox, make_settings, new_cipher
from worker.config import RotationPolicy
from worker.tokens.notify import Notifier
from worker.tokens.policy import (
    TokenAction,
    crossed_thresholds,
    display_status,
    next_rotation,
    rotation_decision,
    rotation_refusal,
    seconds_left,
    status_now,
    time_status,
)
from worker.tokens.records import TokenStatus
from worker.tokens.rotation import RotationOutcome, Rotator
from worker.tokens.store import TokenStore

DAY = 86400
NOW = 1_800_000_000
POLICY = RotationPolicy(before_fraction=0.25, max_age_days=90, new_lifetime_days=30)


@pytest.mark.parametrize(
    ("issued_days_ago", "expires_in_days", "action"),
    [
        # expires_at None (unknown): only the age counts
        (10, None, TokenAction.KEEP),
        (90, None, TokenAction.KEEP),  # exactly max age: not yet
        (90.001, None, TokenAction.ROTATE),
        # expires_at 0 (never): only the age counts
        (10, "never", TokenAction.KEEP),
        (91, "never", TokenAction.ROTATE),
        # 100-day lifetime, rotate below 25 days left
        (50, 50, TokenAction.KEEP),
        (75, 25, TokenAction.KEEP),  # exactly at the boundary: not yet
        (75.001, 24.999, TokenAction.ROTATE),
        (80, 20, TokenAction.ROTATE),
        # already expired, or expiring this very second: too late for regenerate
        (101, -1, TokenAction.EXPIRED),
        (100, 0, TokenAction.EXPIRED),
        # the age limit applies even with plenty of lifetime left
        (91, 300, TokenAction.ROTATE),
        # issued after its expiry (clock skew, a bad --expires-at): treat as due
        (-5, 1, TokenAction.ROTATE),
    ],
)
def test_rotation_decision(issued_days_ago: float, expires_in_days: float | str | None, action: TokenAction) -> None:
    issued_at = NOW - issued_days_ago * DAY
    if expires_in_days is None or expires_in_days == "never":
        expires_at = None if expires_in_days is None else 0  # unknown, or API7's 0 for never
    else:
        expires_at = int(NOW + float(expires_in_days) * DAY)
    decision = rotation_decision(issued_at=issued_at, expires_at=expires_at, now=NOW, policy=POLICY)
    assert decision.action == action, decision.reason
    assert bool(decision.reason) == (action != TokenAction.KEEP)


def test_default_policy_rotates_a_30_day_token_with_10_days_left() -> None:
    policy = RotationPolicy()
    issued = NOW - 20 * DAY
    assert rotation_decision(issued_at=issued, expires_at=NOW + 10 * DAY + 3600, now=NOW, policy=policy).action == (
        TokenAction.KEEP
    )
    assert rotation_decision(issued_at=issued, expires_at=NOW + 9 * DAY, now=NOW, policy=policy).action == (
        TokenAction.ROTATE
    )


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        (None, []),
        (0, []),
        (NOW + 61 * DAY, []),
        (NOW + 60 * DAY, [60]),  # exactly at a threshold: due
        (NOW + 45 * DAY, [60]),
        (NOW + 30 * DAY, [30, 60]),
        (NOW + 5 * DAY, [7, 30, 60]),
        (NOW + 3600, [1, 7, 30, 60]),
        (NOW, []),  # expired: an alert, not a warning
        (NOW - DAY, []),
    ],
)
def test_crossed_thresholds(expires_at: int | None, expected: list[int]) -> None:
    assert crossed_thresholds(expires_at, NOW, [60, 30, 7, 1]) == expected


def test_seconds_left() -> None:
    assert seconds_left(None, NOW) is None
    assert seconds_left(0, NOW) is None
    assert seconds_left(NOW + 10, NOW) == 10
    assert seconds_left(NOW - 10, NOW) == -10


@pytest.mark.parametrize(
    ("expires_in_days", "auto", "due", "expected"),
    [
        (90, False, False, TokenStatus.OK),
        (20, False, False, TokenStatus.WARN),
        (20, True, False, TokenStatus.OK),  # Relay will rotate it: not the operator's concern yet
        (5, True, True, TokenStatus.WARN),  # due and not rotated: it is
        (-1, True, False, TokenStatus.EXPIRED),
    ],
)
def test_time_status(expires_in_days: int, auto: bool, due: bool, expected: TokenStatus) -> None:
    status = time_status(NOW + expires_in_days * DAY, NOW, [60, 30, 7, 1], auto_rotates=auto, rotation_due=due)
    assert status == expected


def test_display_status_precedence() -> None:
    def shown(stored: TokenStatus, expires_at: int | None) -> TokenStatus:
        return display_status(stored, expires_at, NOW, [60, 30, 7, 1], auto_rotates=False, rotation_due=False)

    assert shown(TokenStatus.ROTATING, NOW - DAY) == TokenStatus.ROTATING
    assert shown(TokenStatus.INVALID, NOW - DAY) == TokenStatus.EXPIRED
    assert shown(TokenStatus.INVALID, NOW + 90 * DAY) == TokenStatus.INVALID
    assert shown(TokenStatus.WARN, NOW + 90 * DAY) == TokenStatus.OK  # a stored warn is recomputed
    assert shown(TokenStatus.OK, None) == TokenStatus.OK


# Whether Relay rotates a token is decided by policy.rotation_refusal alone; every caller below must agree with it.
ROTATION_TARGETS = {
    "gw": {"kind": "api7", "base_url": BASE},
    "gw-on": {"kind": "api7", "base_url": BASE, "rotate": True},
    "gw-off": {"kind": "api7", "base_url": BASE, "rotate": False},
    "git": {"kind": "coding", "base_url": "http://coding.test"},
    "plain": {"kind": "bearer", "base_url": "http://plain.test"},
}


@pytest.mark.parametrize(
    ("target", "token_id", "refusal"),
    [
        ("gw", "tok-1", None),
        ("gw-on", "tok-1", None),
        ("gw", None, "no admin API token id is known (`relay tokens edit t --token-id ID`)"),
        ("gw-off", "tok-1", "target gw-off (api7) does not rotate tokens through its API"),
        ("git", "tok-1", "target git (coding) does not rotate tokens through its API"),
        ("plain", "tok-1", "target plain (bearer) does not rotate tokens through its API"),
        ("gone", "tok-1", "target 'gone' is not configured"),
    ],
)
def test_one_function_decides_whether_relay_rotates_a_token_and_every_caller_agrees(
    fake_redis: redis.Redis, target: str, token_id: str | None, refusal: str | None
) -> None:
    settings = make_settings(targets=ROTATION_TARGETS, tokens={"warn_days": [30]})
    store = TokenStore(fake_redis, new_cipher(), clock=lambda: NOW - 10 * DAY)
    with api7_sandbox(lambda: NOW) as api:
        secret = api.issue("tok-1", NOW + 20 * DAY)
        record = store.add("t", target, secret, token_id=token_id and api.ids[token_id], expires_at=NOW + 20 * DAY)
        sent = Sent()
        notifier = Notifier(store, settings, send=sent)
        rotates = refusal is None

        assert rotation_refusal(record, settings) == refusal
        # Not yet due (20 of 30 days left, 10 days old) but past the 30-day warning: the operator's concern only when
        # Relay does not rotate it.
        assert status_now(record, settings, NOW) == (TokenStatus.OK if rotates else TokenStatus.WARN)
        assert (next_rotation(record, settings) is not None) is rotates
        notifier.warn(record, [30], NOW)
        assert ("automatic rotation" in sent.texts()[0]) is rotates
        rotator = Rotator(
            store,
            settings,
            notifier,
            transport=api.transport,
            settle_seconds=0,
            clock=lambda: NOW,
            sleep=lambda s: None,
        )
        result = rotator.rotate("t", reason="test")
        assert (result.outcome, result.message if not rotates else None) == (
            (RotationOutcome.ROTATED, None) if rotates else (RotationOutcome.REFUSED, refusal)
        )


@pytest.mark.parametrize(
    ("kind", "refusal"),
    [
        ("gitlab", None),  # GitLab's self/rotate names no token: no token id needed
        ("github", "target forge (github) does not rotate tokens through its API"),
        ("gitea", "target forge (gitea) does not rotate tokens through its API"),
    ],
)
def test_a_forge_kind_rotates_by_the_same_decision_gitlab_without_a_token_id(
    fake_redis: redis.Redis, kind: str, refusal: str | None
) -> None:
    settings = make_settings(targets={"forge": {"kind": kind, "base_url": BASE}}, tokens={"warn_days": [30]})
    store = TokenStore(fake_redis, new_cipher(), clock=lambda: NOW - 10 * DAY)
    with api7_sandbox(lambda: NOW) as api, api.sandbox.admin() as admin:
        secret = admin.post("/_sandbox/forges/gitlab/tokens", json={"name": "relay"}).json()["token"]
        record = store.add("t", "forge", secret, expires_at=NOW + 20 * DAY)
        rotates = refusal is None
        rotator = Rotator(
            store, settings, Notifier(store, settings, send=Sent()), transport=api.transport, settle_seconds=0,
            clock=lambda: NOW, sleep=lambda s: None,
        )  # fmt: skip

        assert rotation_refusal(record, settings) == refusal
        assert (next_rotation(record, settings) is not None) is rotates
        result = rotator.rotate("t", reason="test")

    assert result.outcome == (RotationOutcome.ROTATED if rotates else RotationOutcome.REFUSED)
    assert (store.get("t").version == 2) is rotates


def test_the_next_rotation_is_the_earlier_of_max_age_and_lifetime_left(fake_redis: redis.Redis) -> None:
    settings = make_settings(tokens={"rotate": {"before_fraction": 0.25, "max_age_days": 90}})
    store = TokenStore(fake_redis, new_cipher(), clock=lambda: NOW)
    long_lived = store.add("a", "gw", "s-1", token_id="1", expires_at=NOW + 400 * DAY)
    short_lived = store.add("b", "gw", "s-2", token_id="2", expires_at=NOW + 40 * DAY)
    never = store.add("c", "gw", "s-3", token_id="3", expires_at=0)

    assert next_rotation(long_lived, settings) == NOW + 90 * DAY
    assert next_rotation(short_lived, settings) == NOW + 30 * DAY
    assert next_rotation(never, settings) == NOW + 90 * DAY
