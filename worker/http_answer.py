"""What an HTTP answer means to Relay, for every client it has (admin API targets, notification channels).

    status          meaning     what the caller does
    1xx, 2xx        SUCCESS     reads the body (a kind's error envelope may still turn it into a failure)
    3xx             REDIRECT    fails, naming where it pointed: redirects are never followed, so that a credential
                                does not travel to another address
    429, 5xx        RETRY       retries later, after ``retry_after`` when the server sent ``Retry-After``
                                (delta-seconds or an HTTP date); ``maybe_applied`` for a 504 (see ``acted``)
    401, 403        AUTH        the credential was refused (or lacks a permission): a target re-reads its token
    other 4xx       PERMANENT   fails with the server's message: retrying will not help

Whether the server acted on the request (``acted``), as far as the answer tells:

    status          acted
    1xx, 2xx        YES         it did, whatever the body says
    3xx, 4xx        NO          it refused before acting (429 included: rate limited, not attempted)
    5xx but 504     UNLIKELY    it failed, most likely before acting; nothing proves it did not
    504, no answer  MAYBE       a proxy gave up on an upstream that may have acted; or the answer never came back

A failed event action is dead-lettered as of unknown outcome on MAYBE only (``maybe_applied``); a token rotation,
which can check afterwards by probing the old secret, checks on anything but NO (``worker.tokens.admin``).

``classify`` and ``acted`` are the one place that reads the status and ``Retry-After``; the clients turn their
answers into their errors (``worker.errors``) and add what only they know (a target kind's error envelope, a
channel's error code, whether a request without an answer ever left).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Meaning(StrEnum):
    """What an HTTP status says about the request."""

    SUCCESS = "success"
    REDIRECT = "redirect"
    RETRY = "retry"
    AUTH = "auth"
    PERMANENT = "permanent"


class Acted(StrEnum):
    """Whether the server acted on the request, as far as its answer (or its absence) tells."""

    YES = "yes"
    NO = "no"
    UNLIKELY = "unlikely"
    MAYBE = "maybe"


@dataclass(frozen=True)
class Answer:
    """An answer's meaning; ``retry_after`` is the server's ``Retry-After`` in seconds, whatever the status."""

    meaning: Meaning
    retry_after: float | None = None
    maybe_applied: bool = False  # the request may have taken effect although the answer is an error (``Acted.MAYBE``)


def classify(status: int, headers: Mapping[str, str], *, now: datetime | None = None) -> Answer:
    """The meaning of ``status`` (see the table above), with ``Retry-After`` read from ``headers``."""
    retry_after = parse_retry_after(headers.get("Retry-After"), now=now)
    if status < 300:
        meaning = Meaning.SUCCESS
    elif status < 400:
        meaning = Meaning.REDIRECT
    elif status == 429 or status >= 500:
        meaning = Meaning.RETRY
    elif status in (401, 403):
        meaning = Meaning.AUTH
    else:
        meaning = Meaning.PERMANENT
    return Answer(meaning, retry_after, maybe_applied=acted(status) == Acted.MAYBE)


def acted(status: int | None) -> Acted:
    """Whether the server acted on a request answered ``status`` (``None``: no answer came back); see the table."""
    if status is None or status == 504:
        return Acted.MAYBE
    if status < 300:
        return Acted.YES
    if status < 500:
        return Acted.NO
    return Acted.UNLIKELY


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
