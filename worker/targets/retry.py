"""Which admin API failures are worth retrying, and when: the status table and the backoff.

HTTP statuses (every target kind):

    network error, timeout          RetryableError (no status)
    429, 5xx                        RetryableError, ``retry_after`` from ``Retry-After`` (seconds or HTTP date)
    401, 403                        AuthError (after one re-read of the token store, see ``client``)
    other 4xx                       PermanentError with the server's message

Error codes in a body (CODING's ``Response.Error``) are classified by the target's kind (``kinds``). A 429 or 5xx
status wins over the code (the server said "later" at the HTTP level). Delays are capped by the caller with
``celery.retry_backoff_max``, which the settings keep below the broker's visibility timeout, so a retry never
outlives its message (a server asking for a longer ``Retry-After`` is retried at the cap).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def is_retryable_status(status: int) -> bool:
    """True for the statuses worth retrying later: 429 and every 5xx."""
    return status == 429 or status >= 500


def is_auth_status(status: int) -> bool:
    """True for the statuses that mean the token was refused: 401 and 403."""
    return status in (401, 403)


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
