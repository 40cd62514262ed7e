"""Waiting on a condition with a deadline: the one polling loop Relay has (never sleeping for luck).

``poll`` returns what the condition gave, or None when the time ran out, for callers that decide from the last
state they saw (a rotation settling, events finishing); ``wait_until`` raises ``TimeoutError`` naming what did not
happen. The condition runs at least once, and once more at the deadline; ``clock`` and ``sleep`` are seams.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    max_interval: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Call ``condition`` until it returns something truthy (returned) or ``timeout`` seconds pass (None).

    With ``max_interval`` the pause doubles after each try, up to it; a pause never runs past the deadline.
    """
    deadline = clock() + timeout
    pause = interval
    while True:
        value = condition()
        if value:
            return value
        left = deadline - clock()
        if left <= 0:
            return None
        sleep(min(pause, left))
        if max_interval is not None:
            pause = min(pause * 2, max_interval)


def wait_until(condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """What ``condition`` returns once it is truthy; ``TimeoutError`` naming ``what`` after ``timeout`` seconds."""
    value = poll(condition, timeout=timeout, interval=interval)
    if not value:
        raise TimeoutError(f"{what} did not happen within {timeout:g} s")
    return value
