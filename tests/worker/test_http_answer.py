"""What an HTTP answer means: the one table, Retry-After, and both clients (targets, channels) asking it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tests.worker.targets.helpers import make_client
from worker.channels.client import send_notification
from worker.config import ChannelConfig
from worker.errors import AuthError, PermanentError, RetryableError, TargetError
from worker.http_answer import Acted, Answer, Meaning, acted, classify, parse_retry_after

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
STATUSES = [200, 201, 204, 301, 302, 307, 308, 400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504]


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        (200, Meaning.SUCCESS),
        (204, Meaning.SUCCESS),
        (299, Meaning.SUCCESS),
        (301, Meaning.REDIRECT),
        (308, Meaning.REDIRECT),
        (400, Meaning.PERMANENT),
        (401, Meaning.AUTH),
        (403, Meaning.AUTH),
        (404, Meaning.PERMANENT),
        (408, Meaning.PERMANENT),
        (428, Meaning.PERMANENT),
        (429, Meaning.RETRY),
        (500, Meaning.RETRY),
        (503, Meaning.RETRY),
        (504, Meaning.RETRY),
        (599, Meaning.RETRY),
    ],
)
def test_each_status_has_one_meaning(status: int, meaning: Meaning) -> None:
    assert classify(status, {}) == Answer(meaning, None, maybe_applied=status == 504)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Acted.YES),
        (204, Acted.YES),
        (301, Acted.NO),
        (400, Acted.NO),
        (401, Acted.NO),
        (404, Acted.NO),
        (429, Acted.NO),
        (500, Acted.UNLIKELY),
        (502, Acted.UNLIKELY),
        (503, Acted.UNLIKELY),
        (599, Acted.UNLIKELY),
        (504, Acted.MAYBE),
        (None, Acted.MAYBE),  # no answer came back
    ],
)
def test_each_answer_says_whether_the_server_acted(status: int | None, expected: Acted) -> None:
    assert acted(status) == expected
    if status is not None:
        assert classify(status, {}).maybe_applied is (expected == Acted.MAYBE)


def test_retry_after_is_read_whatever_the_status() -> None:
    # A CODING RequestLimitExceeded comes under a 200: its hint must not be lost.
    assert classify(200, {"Retry-After": "5"}).retry_after == 5.0
    assert classify(429, httpx.Headers({"retry-after": "7"})).retry_after == 7.0
    assert classify(503, {"Retry-After": "Sun, 01 Mar 2026 12:00:30 GMT"}, now=NOW).retry_after == 30.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("3", 3.0),
        (" 120 ", 120.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),  # a date in the past: now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("٣", None),  # a non-ASCII digit is not delta-seconds
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def _target_failure(status: int) -> TargetError | None:
    answer = httpx.Response(status, headers={"Retry-After": "7", "Location": "http://elsewhere.test/"}, text="no")
    client = make_client(lambda request: answer)
    try:
        client.call("POST", "/api/x")
    except TargetError as exc:
        return exc
    finally:
        client.close()
    return None


def _channel_failure(status: int) -> TargetError | None:
    answer = httpx.Response(status, headers={"Retry-After": "7", "Location": "http://elsewhere.test/"}, text="no")
    config = ChannelConfig.model_validate({"kind": "webhook", "url": "http://hooks.test/chat"})
    with httpx.Client(transport=httpx.MockTransport(lambda request: answer)) as client:
        try:
            send_notification(config, "hello", client=client)
        except TargetError as exc:
            return exc
    return None


@pytest.mark.parametrize("status", STATUSES)
def test_both_clients_turn_an_answer_into_what_classify_says(status: int) -> None:
    answer = classify(status, {"Retry-After": "7"})
    target, channel = _target_failure(status), _channel_failure(status)

    if answer.meaning == Meaning.SUCCESS:
        assert (target, channel) == (None, None)
    elif answer.meaning == Meaning.RETRY:
        assert isinstance(target, RetryableError)
        assert isinstance(channel, RetryableError)
        assert target.retry_after == channel.retry_after == answer.retry_after == 7.0
        assert target.maybe_applied is answer.maybe_applied
    else:
        assert type(channel) is PermanentError
        assert type(target) is (AuthError if answer.meaning == Meaning.AUTH else PermanentError)
        assert ("redirect to http://elsewhere.test/" in str(target)) is (answer.meaning == Meaning.REDIRECT)
        assert ("redirect to http://elsewhere.test/" in str(channel)) is (answer.meaning == Meaning.REDIRECT)
