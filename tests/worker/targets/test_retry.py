"""The retry policy: backoff with jitter under the cap, and the CODING code table (Retry-After: test_http_answer)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import redis

from tasks import pipeline
from worker.config import Settings
from worker.errors import AuthError, PermanentError, RetryableError, TargetError
from worker.runtime import Runtime
from worker.store.events import EVENT_KEY, EventRecord, EventStatus, event_fields, new_event_id
from worker.targets import ConfigTokens
from worker.targets.kinds import KINDS
from worker.targets.retry import backoff_delay


def test_backoff_follows_the_servers_hint_within_the_cap() -> None:
    assert backoff_delay(1, retry_after=4, cap=10) == 4
    assert backoff_delay(1, retry_after=4000, cap=10) == 10
    assert backoff_delay(3, retry_after=-1, cap=10) == 0


def test_backoff_without_a_hint_is_full_jitter_growing_exponentially() -> None:
    for attempt in range(1, 8):
        delays = [backoff_delay(attempt, base=1.0, cap=10_000) for _ in range(200)]
        assert all(0 <= d <= 2 ** (attempt - 1) for d in delays)
    # Jitter: not all the same.
    assert len({backoff_delay(5) for _ in range(20)}) > 1


@pytest.mark.parametrize("attempt", [1, 10, 100, 5000])
def test_backoff_never_exceeds_the_cap(attempt: int) -> None:
    assert all(backoff_delay(attempt, cap=3) <= 3 for _ in range(100))


@pytest.mark.parametrize(
    ("code", "kind", "reauth"),
    [
        ("AuthFailure", AuthError, True),
        ("AuthFailure.TokenFailure", AuthError, True),
        ("AuthFailure.UnauthorizedOperation", AuthError, True),
        ("UnauthorizedOperation", AuthError, False),
        ("UnauthorizedOperation.NoPermission", AuthError, False),
        ("InternalError", RetryableError, False),
        ("InternalError.DbError", RetryableError, False),
        ("ServiceUnavailable", RetryableError, False),
        ("RequestLimitExceeded", RetryableError, False),
        ("RequestLimitExceeded.UinLimitExceeded", RetryableError, False),
        ("LimitExceeded", PermanentError, False),  # a quota, not a rate
        ("InvalidParameter", PermanentError, False),
        ("InvalidParameterValue.Name", PermanentError, False),
        ("MissingParameter", PermanentError, False),
        ("InvalidAction", PermanentError, False),
        ("ResourceNotFound", PermanentError, False),
        ("FailedOperation", PermanentError, False),
        ("AuthFailureLookalike", PermanentError, False),  # a family is matched whole, not by prefix
        ("UnknownError", PermanentError, False),
    ],
)
def test_coding_error_codes(code: str, kind: type[TargetError], reauth: bool) -> None:
    assert KINDS["coding"].classify(code) is kind
    assert KINDS["coding"].reread_on(200, code) is reauth


# The pipeline turns a RetryableError into a delay capped by celery.retry_backoff_max (below the visibility timeout).


def _runtime(fake_redis: redis.Redis, handler: Callable[[httpx.Request], httpx.Response]) -> Runtime:
    settings = Settings(
        celery={"retry_backoff_max": 5, "visibility_timeout": 60, "task_time_limit": 30},
        targets={"gw": {"kind": "api7", "base_url": "http://gw.test", "token_secret": "s3cret-token-value"}},
        rules=[{"name": "r", "on": {"source": "github"}, "do": [{"call": "gw", "method": "GET", "path": "/x"}]}],
    )
    return Runtime(settings, fake_redis, ConfigTokens(settings), transport=httpx.MockTransport(handler))


def _store(runtime: Runtime) -> str:
    record = EventRecord(
        id=new_event_id(), source="github", type="push", delivery_id="d", received_at=1.0, headers={}, payload={}
    )
    runtime.redis.hset(EVENT_KEY + record.id, mapping=event_fields(record))  # type: ignore[arg-type]
    return record.id


def test_the_pipeline_caps_a_long_retry_after_at_retry_backoff_max(fake_redis: redis.Redis) -> None:
    runtime = _runtime(fake_redis, lambda r: httpx.Response(429, headers={"Retry-After": "86400"}))

    outcome = pipeline.process(runtime, _store(runtime))

    assert outcome.status == EventStatus.RETRYING
    assert outcome.retry_in == 5
    assert runtime.settings.celery.retry_backoff_max < runtime.settings.celery.visibility_timeout


def test_the_pipeline_honours_a_short_retry_after(fake_redis: redis.Redis) -> None:
    runtime = _runtime(fake_redis, lambda r: httpx.Response(503, headers={"Retry-After": "2"}))

    assert pipeline.process(runtime, _store(runtime)).retry_in == 2


def test_the_pipeline_jitters_under_the_cap_without_a_hint(fake_redis: redis.Redis) -> None:
    runtime = _runtime(fake_redis, lambda r: httpx.Response(500))
    event_id = _store(runtime)

    for _ in range(6):
        outcome = pipeline.process(runtime, event_id)
        assert outcome.retry_in is not None
        assert 0 <= outcome.retry_in <= 5
