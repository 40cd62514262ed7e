"""A per-source token bucket, in process: deliveries past a source's rate are refused with 429 and Retry-After.

In process rather than in Redis: the limit exists to protect Redis from one sender, so it must not cost a Redis
round trip per delivery, and it keeps working while Redis is down. With N receiver processes the effective rate is
at most N times the configured one, which still bounds what one sender can store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.errors import Rejected


class RateLimited(Rejected):
    """Too many deliveries from one source: 429, with the seconds until the next one fits."""

    status_code = 429

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved; each delivery takes one."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def take(self, source: str) -> None:
        """Take one token, or raise ``RateLimited`` naming the source and when to retry."""
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return
        wait = max(1, math.ceil((1 - self._tokens) / self.rate))
        raise RateLimited(f"source {source} is over its rate limit ({self.rate:g}/s)", retry_after=wait)
