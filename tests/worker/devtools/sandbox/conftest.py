"""Fixtures for the sandbox tests: a fake clock, the state, and HTTP clients talking to the app in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import FakeClock
from tests.worker.devtools.sandbox.support import BOOTSTRAP, RUNTIME_VERSION, START, make_client
from worker.devtools.sandbox.state import SandboxState, new_state


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio only (the sandbox is served by uvicorn)."""
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    """Return the sandbox's clock."""
    return FakeClock(START)


@pytest.fixture
def state(clock: FakeClock) -> SandboxState:
    """Return a fresh sandbox state."""
    return new_state(BOOTSTRAP, clock)


@pytest.fixture
async def client(state: SandboxState) -> AsyncIterator[httpx.AsyncClient]:
    """Return a client that authenticates with the bootstrap token's X-API-KEY header."""
    async with make_client(state, headers={"X-API-KEY": BOOTSTRAP}) as c:
        yield c


@pytest.fixture
async def anon(state: SandboxState) -> AsyncIterator[httpx.AsyncClient]:
    """Return a client of the same sandbox that sends no credentials."""
    async with make_client(state) as c:
        yield c


@pytest.fixture
def runtime_state(clock: FakeClock) -> SandboxState:
    """Return a fresh sandbox state standing in for API7 3.5 (runtime resources per gateway group)."""
    return new_state(BOOTSTRAP, clock, api7_version=RUNTIME_VERSION)


@pytest.fixture
async def rt(runtime_state: SandboxState) -> AsyncIterator[httpx.AsyncClient]:
    """Return an authenticated client of a 3.5 sandbox."""
    async with make_client(runtime_state, headers={"X-API-KEY": BOOTSTRAP}) as c:
        yield c
