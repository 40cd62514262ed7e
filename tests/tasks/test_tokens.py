"""tasks/tokens.py, beat's token check: one check at a time across beats, and what the task returns."""

from __future__ import annotations

import redis

from tasks.tokens import run_check
from tests.support import FakeClock
from tests.worker.tokens.support import DAY, NOW, Api7, Sent, api7_sandbox, make_settings, new_cipher
from worker.config import Settings
from worker.runtime import Runtime
from worker.store.locks import job_lock
from worker.tokens.checker import TokenChecker
from worker.tokens.store import TokenStore, seeds_from_settings


def test_a_second_beat_skips_while_a_check_runs_and_the_job_is_safe_to_repeat(fake_redis: redis.Redis) -> None:
    settings, clock, sent = make_settings(), FakeClock(NOW), Sent()
    with api7_sandbox(clock) as api:
        check_twice_while_another_beat_holds_the_lock(fake_redis, api, settings, clock, sent)


def check_twice_while_another_beat_holds_the_lock(
    fake_redis: redis.Redis, api: Api7, settings: Settings, clock: FakeClock, sent: Sent
) -> None:
    store = TokenStore(fake_redis, new_cipher(), seeds=seeds_from_settings(settings), clock=clock)
    store.add("git", "git", api.issue("coding-1", int(NOW + 6 * DAY)), expires_at=int(NOW + 6 * DAY))
    runtime = Runtime(settings, fake_redis, store, transport=api.transport)
    checker = TokenChecker(store, settings, transport=api.transport, send=sent, clock=clock)

    held = job_lock(fake_redis, "check_tokens", 60)
    assert held.acquire()
    assert run_check(runtime, checker=checker) is None
    assert sent.messages == []
    held.release()

    first = run_check(runtime, checker=checker)
    second = run_check(runtime, checker=checker)
    assert first is not None
    assert second is not None
    assert [report.name for report in first] == ["git"]
    assert len(sent.messages) == 2  # the 7-day warning, once per channel, though the job ran twice
    assert not fake_redis.exists("relay:lock:job:check_tokens")
