"""Pure decisions about a token's life: when to rotate, which warnings are due, what its status is.

Times are Unix seconds. ``expires_at`` is None when unknown and 0 when the token never expires (API7's
convention). Boundaries are exclusive: a token rotates when strictly less than ``before_fraction`` of its lifetime
is left, or when it is strictly older than ``max_age_days``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from worker.config import TARGET_AUTH, RotationPolicy, Settings
from worker.targets.kinds import KINDS
from worker.tokens.records import TokenRecord, TokenStatus

DAY = 86400.0


class TokenAction(StrEnum):
    """What the policy says to do with a token."""

    KEEP = "keep"
    ROTATE = "rotate"
    EXPIRED = "expired"  # too late to rotate: an expired secret cannot authenticate its own regenerate


@dataclass(frozen=True)
class Decision:
    """The policy's answer and why."""

    action: TokenAction
    reason: str


def never_expires(expires_at: int | None) -> bool:
    """True for API7's 0."""
    return expires_at == 0


def seconds_left(expires_at: int | None, now: float) -> float | None:
    """Seconds until expiry (negative once expired); None when unknown or never."""
    if expires_at is None or never_expires(expires_at):
        return None
    return expires_at - now


def rotation_refusal(record: TokenRecord, settings: Settings) -> str | None:
    """Why Relay does not rotate this token through its admin API, or None when it does.

    The one place that decides: the target's kind must be able to (``TARGET_AUTH[kind].can_rotate``), the target
    must not say ``rotate: false``, and the admin API's id of the token must be known when the kind's rotation names
    the token by it (``KINDS[kind].needs_token_id``: API7's regenerate does, GitLab's ``self/rotate`` does not).
    """
    target = settings.targets.get(record.target)
    if target is None:
        return f"target {record.target!r} is not configured"
    able = TARGET_AUTH[target.kind].can_rotate
    if not able or target.rotate is False:
        return f"target {record.target} ({target.kind}) does not rotate tokens through its API"
    if not record.token_id and KINDS[target.kind].needs_token_id:
        return f"no admin API token id is known (`relay tokens edit {record.name} --token-id ID`)"
    return None


def rotates(record: TokenRecord, settings: Settings) -> bool:
    """Whether Relay rotates this token by itself (``rotation_refusal`` has nothing against it)."""
    return rotation_refusal(record, settings) is None


def next_rotation(record: TokenRecord, settings: Settings) -> float | None:
    """When Relay will rotate the token (None when it does not rotate it); the earlier of age and lifetime left."""
    if not rotates(record, settings):
        return None
    policy = settings.tokens.rotate
    candidates = [record.issued_at + policy.max_age_days * DAY]
    if record.expires_at:
        candidates.append(record.expires_at - policy.before_fraction * (record.expires_at - record.issued_at))
    return float(min(candidates))


def rotation_decision(*, issued_at: float, expires_at: int | None, now: float, policy: RotationPolicy) -> Decision:
    """Rotate below ``before_fraction`` of the lifetime left or past ``max_age_days``; never once expired."""
    left = seconds_left(expires_at, now)
    if left is not None and left <= 0:
        return Decision(TokenAction.EXPIRED, "expired")
    if left is not None and expires_at is not None:
        lifetime = expires_at - issued_at
        # A lifetime of zero or less means the issue time is unreliable (set after the expiry): rotate.
        if lifetime <= 0 or left < policy.before_fraction * lifetime:
            share = 0.0 if lifetime <= 0 else left / lifetime
            return Decision(
                TokenAction.ROTATE,
                f"{left / DAY:.1f} days left, {share:.0%} of its lifetime (below {policy.before_fraction:.0%})",
            )
    age = now - issued_at
    if age > policy.max_age_days * DAY:
        return Decision(TokenAction.ROTATE, f"{age / DAY:.1f} days old (over {policy.max_age_days:g})")
    return Decision(TokenAction.KEEP, "")


def crossed_thresholds(expires_at: int | None, now: float, warn_days: list[int]) -> list[int]:
    """The warning thresholds (days) already reached but not yet expired, smallest first."""
    left = seconds_left(expires_at, now)
    if left is None or left <= 0:
        return []
    return sorted(days for days in set(warn_days) if left <= days * DAY)


def time_status(
    expires_at: int | None, now: float, warn_days: list[int], *, auto_rotates: bool, rotation_due: bool
) -> TokenStatus:
    """``expired``, ``warn`` or ``ok`` from the expiry alone.

    A token Relay rotates by itself is ``warn`` only once its rotation is due and has not happened: before that,
    the approaching expiry is Relay's job, not the operator's.
    """
    left = seconds_left(expires_at, now)
    if left is not None and left <= 0:
        return TokenStatus.EXPIRED
    if crossed_thresholds(expires_at, now, warn_days) and (rotation_due or not auto_rotates):
        return TokenStatus.WARN
    return TokenStatus.OK


def display_status(
    stored: TokenStatus,
    expires_at: int | None,
    now: float,
    warn_days: list[int],
    *,
    auto_rotates: bool,
    rotation_due: bool,
) -> TokenStatus:
    """What ``relay tokens list`` shows: ``rotating``, then ``expired`` (the precise reason a secret is refused),
    then a stored ``invalid``, else ``warn`` or ``ok`` by time."""
    if stored == TokenStatus.ROTATING:
        return stored
    by_time = time_status(expires_at, now, warn_days, auto_rotates=auto_rotates, rotation_due=rotation_due)
    if stored == TokenStatus.INVALID and by_time != TokenStatus.EXPIRED:
        return stored
    return by_time


def status_now(record: TokenRecord, settings: Settings, now: float) -> TokenStatus:
    """The status a token has right now (the stored one may be an hour old), as lists and status show it."""
    due = rotation_decision(
        issued_at=record.issued_at, expires_at=record.expires_at, now=now, policy=settings.tokens.rotate
    )
    return display_status(
        record.status, record.expires_at, now, settings.tokens.warn_days,
        auto_rotates=rotates(record, settings), rotation_due=due.action == TokenAction.ROTATE,
    )  # fmt: skip
