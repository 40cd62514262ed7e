"""Fixtures for the token lifecycle's unit tests: fakeredis, a fixed clock, the sandbox as API7 over a transport."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support import FakeClock
from tests.worker.tokens.support import NOW, Api7, Sent, api7_sandbox, make_settings, new_cipher
from worker.config import Settings
from worker.tokens.keys import Cipher
from worker.tokens.store import TokenStore, seeds_from_settings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def cipher() -> Cipher:
    return new_cipher()


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def store(fake_redis: redis.Redis, cipher: Cipher, clock: FakeClock, settings: Settings) -> TokenStore:
    return TokenStore(fake_redis, cipher, seeds=seeds_from_settings(settings), clock=clock)


@pytest.fixture
def api(clock: FakeClock) -> Iterator[Api7]:
    """The sandbox standing in for API7 and CODING, on the test's clock."""
    with api7_sandbox(clock) as api:
        yield api


@pytest.fixture
def sent() -> Sent:
    return Sent()
