"""When a failed admin API call is tried again: the backoff.

What an answer means (retry, permanent, auth, redirect, and ``Retry-After``) is decided in ``worker.http_answer``;
error codes in a body (CODING's ``Response.Error``) are classified by the target's kind (``kinds``). A 429 or 5xx
status wins over the code (the server said "later" at the HTTP level). Delays are capped by the caller with
``celery.retry_backoff_max``, which the settings keep below the broker's visibility timeout, so a retry never
outlives its message (a server asking for a longer ``Retry-After`` is retried at the cap).
"""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, retry_after: float | None = None, base: float = 1.0, cap: float = 600.0) -> float:
    """Delay before retry number ``attempt`` (1-based): the server's hint if given, else full jitter; capped."""
    if retry_after is not None:
        return min(cap, max(0.0, retry_after))
    # Full jitter (random in [0, base * 2^(n-1)]) spreads retries of many events that failed together.
    exponent = min(max(attempt, 1) - 1, 62)  # beyond this the cap applies anyway; avoids float overflow
    return min(cap, random.uniform(0, base * 2.0**exponent))
