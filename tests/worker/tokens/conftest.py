"""Fixtures for the token lifecycle's unit tests: fakeredis, a fixed clock, a fake API7 over MockTransport."""

from __future__ import annotations

import pytest
import redis

from tests.support import FakeClock
from tests.worker.tokens.support import NOW, FakeApi7, Sent, make_settings, new_cipher
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
def api() -> FakeApi7:
    return FakeApi7()


@pytest.fixture
def sent() -> Sent:
    return Sent()
