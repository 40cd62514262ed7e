"""Which admin API failures are worth retrying, and when: the classification tables and the backoff.

HTTP statuses (every target kind):

    network error, timeout          RetryableError (no status)
    429, 5xx                        RetryableError, ``retry_after`` from ``Retry-After`` (seconds or HTTP date)
    401, 403                        AuthError (after one re-read of the token store, see ``client``)
    other 4xx                       PermanentError with the server's message

CODING error codes (``Response.Error.Code``, which CODING sends even with HTTP 200). CODING's open API uses
the Tencent Cloud API 3.0 conventions: a dotted code whose first part is the family (``AuthFailure.TokenFailure``).

    AuthFailure, AuthFailure.*                      AuthError; re-read the token and retry once if it changed
    UnauthorizedOperation, UnauthorizedOperation.*  AuthError (the token works but lacks the permission);
                                                    no re-read: a rotation does not add permissions
    InternalError.*, ServiceUnavailable.*,          RetryableError (transient on the server's side)
    RequestLimitExceeded.*
    anything else (InvalidParameter, MissingParameter, InvalidAction, ResourceNotFound, LimitExceeded (a quota),
    FailedOperation, UnsupportedOperation, ...)     PermanentError carrying the code

A 429 or 5xx status wins over the code (the server said "later" at the HTTP level). Delays are capped by the
caller with ``celery.retry_backoff_max``, which the settings keep below the broker's visibility timeout, so a
retry never outlives its message (a server asking for a longer ``Retry-After`` is retried at the cap).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from worker.errors import AuthError, PermanentError, RetryableError, TargetError

CODING_AUTH_FAILURE = ("AuthFailure",)
CODING_FORBIDDEN = ("UnauthorizedOperation",)
CODING_RETRYABLE = ("InternalError", "ServiceUnavailable", "RequestLimitExceeded")


def is_retryable_status(status: int) -> bool:
    """True for the statuses worth retrying later: 429 and every 5xx."""
    return status == 429 or status >= 500


def is_auth_status(status: int) -> bool:
    """True for the statuses that mean the token was refused: 401 and 403."""
    return status in (401, 403)


def _in_family(code: str, families: tuple[str, ...]) -> bool:
    return any(code == family or code.startswith(family + ".") for family in families)


def coding_error_class(code: str) -> type[TargetError]:
    """The error class for a CODING ``Response.Error.Code`` (see the table above)."""
    if _in_family(code, CODING_AUTH_FAILURE + CODING_FORBIDDEN):
        return AuthError
    if _in_family(code, CODING_RETRYABLE):
        return RetryableError
    return PermanentError


def coding_needs_reauth(code: str) -> bool:
    """True when a CODING code says the token itself was refused, so a rotated one may work."""
    return _in_family(code, CODING_AUTH_FAILURE)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(attempt: int, *, retry_after: float | None = None, base: float = 1.0, cap: float = 600.0) -> float:
    """Delay before retry number ``attempt`` (1-based): the server's hint if given, else full jitter; capped."""
    if retry_after is not None:
        return min(cap, max(0.0, retry_after))
    # Full jitter (random in [0, base * 2^(n-1)]) spreads retries of many events that failed together.
    exponent = min(max(attempt, 1) - 1, 62)  # beyond this the cap applies anyway; avoids float overflow
    return min(cap, random.uniform(0, base * 2.0**exponent))
