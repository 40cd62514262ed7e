"""The retry policy for admin API calls: exponential backoff with full jitter, honouring Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
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
    return min(cap, random.uniform(0, base * 2 ** (attempt - 1)))
