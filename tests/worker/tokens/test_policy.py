"""The rotation policy and warning thresholds, table-tested on their edges."""

from __future__ import annotations

import pytest

from worker.config import RotationPolicy
from worker.tokens.policy import (
    Action,
    crossed_thresholds,
    display_status,
    rotation_decision,
    seconds_left,
    time_status,
)
from worker.tokens.records import TokenStatus

DAY = 86400
NOW = 1_800_000_000
POLICY = RotationPolicy(before_fraction=0.25, max_age_days=90, new_lifetime_days=30)


@pytest.mark.parametrize(
    ("issued_days_ago", "expires_in_days", "action"),
    [
        # expires_at None (unknown): only the age counts
        (10, None, Action.KEEP),
        (90, None, Action.KEEP),  # exactly max age: not yet
        (90.001, None, Action.ROTATE),
        # expires_at 0 (never): only the age counts
        (10, "never", Action.KEEP),
        (91, "never", Action.ROTATE),
        # 100-day lifetime, rotate below 25 days left
        (50, 50, Action.KEEP),
        (75, 25, Action.KEEP),  # exactly at the boundary: not yet
        (75.001, 24.999, Action.ROTATE),
        (80, 20, Action.ROTATE),
        # already expired, or expiring this very second: too late for regenerate
        (101, -1, Action.EXPIRED),
        (100, 0, Action.EXPIRED),
        # the age limit applies even with plenty of lifetime left
        (91, 300, Action.ROTATE),
        # issued after its expiry (clock skew, a bad --expires-at): treat as due
        (-5, 1, Action.ROTATE),
    ],
)
def test_rotation_decision(issued_days_ago: float, expires_in_days: float | str | None, action: Action) -> None:
    issued_at = NOW - issued_days_ago * DAY
    if expires_in_days is None or expires_in_days == "never":
        expires_at = None if expires_in_days is None else 0  # unknown, or API7's 0 for never
    else:
        expires_at = int(NOW + float(expires_in_days) * DAY)
    decision = rotation_decision(issued_at=issued_at, expires_at=expires_at, now=NOW, policy=POLICY)
    assert decision.action == action, decision.reason
    assert bool(decision.reason) == (action != Action.KEEP)


def test_default_policy_rotates_a_30_day_token_with_10_days_left() -> None:
    policy = RotationPolicy()
    issued = NOW - 20 * DAY
    assert rotation_decision(issued_at=issued, expires_at=NOW + 10 * DAY + 3600, now=NOW, policy=policy).action == (
        Action.KEEP
    )
    assert rotation_decision(issued_at=issued, expires_at=NOW + 9 * DAY, now=NOW, policy=policy).action == (
        Action.ROTATE
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
