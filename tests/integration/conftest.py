"""The integration stack: one fixture that starts what a test needs of Redis, sandbox, workers, beat, receivers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.support import Stack, stack_config
from tests.support import GITHUB_SECRET, Sandbox, Server
from webhooks.app import create_app
from worker.config import Settings
from worker.devtools.supervise.children import Child


@pytest.fixture
def stack(
    write_config: Callable[[dict[str, Any]], Settings],
    redis_url: str,
    sandbox: Sandbox,
    serve_app: Callable[[Any], Server],
    start_worker: Callable[..., Child],
    start_beat: Callable[[str], Child],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Stack]:
    """Build the stack: ``stack(config, workers=1, concurrency=1, beat=False, receivers=1, redis=None)``.

    ``config`` is a relay.yaml as a dict (default: ``stack_config(sandbox)``) or settings already loaded; ``redis``
    replaces the test's Redis (a Sentinel URL, say). Workers and beat are child processes (stopped at the test's
    end), receivers served on threads. Everything is ready when it returns.
    """

    def build(
        config: dict[str, Any] | Settings | None = None, *, workers: int = 1, concurrency: int = 1,
        beat: bool = False, receivers: int = 1, redis: str | None = None,
    ) -> Stack:  # fmt: skip
        url = redis or redis_url
        if redis is None:
            monkeypatch.setenv("RELAY_REDIS_URL", url)
        data = stack_config(sandbox) if config is None else config
        settings = data if isinstance(data, Settings) else write_config(data)
        started = [start_worker(url, concurrency=concurrency) for _ in range(workers)]
        ticker = start_beat(url) if beat else None
        # A given Redis (Sentinel) is the configuration's own: the receiver reads it from there, as deployed.
        served = [serve_app(create_app(settings, redis_url=None if redis else url)) for _ in range(receivers)]
        github = settings.sources.get("github")
        secret = github.secret.get_secret_value() if github and github.secret else GITHUB_SECRET
        return Stack(settings, url, sandbox, served, started, ticker, secret)

    return build
