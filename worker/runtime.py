"""What a worker process holds: settings, a Redis client, the event store, the token source, one client per target,
the notification channels, and (on first use) the repository reader and commit status reporter; ``close``
releases them all.

Created lazily in the process that uses it, so a Celery pool child opens its own connections after fork.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial

import httpx
import redis

from worker.channels import Notifications
from worker.config import Settings
from worker.gitops.source import CommitSource
from worker.ops import stats
from worker.repos.reader import RepoReader
from worker.repos.runtime import open_reader, open_status_reporter
from worker.repos.statuses import StatusReporter
from worker.store.connection import connect, resolve_redis_url
from worker.store.events import EventStore
from worker.targets import TargetClient, TokenSource
from worker.tokens.source import token_source


@dataclass(frozen=True)
class CallCount:
    """One admin API request sent, for ``relay_admin_calls_total`` and its duration."""

    target: str
    method: str
    status_class: str
    seconds: float


# While an event run gathers its writes, the requests its calls send are counted into its list, not one by one.
_gathering: ContextVar[list[CallCount] | None] = ContextVar("relay_gathering_calls", default=None)


@dataclass
class Runtime:
    """Long-lived resources of one process."""

    settings: Settings
    redis: redis.Redis
    tokens: TokenSource
    transport: httpx.BaseTransport | None = None  # tests put an httpx.MockTransport here
    commits: CommitSource | None = None  # tests put a fake reader here; else sync actions read through repos
    events: EventStore = field(init=False)
    notifications: Notifications = field(init=False)
    _clients: dict[str, TargetClient] = field(default_factory=dict, init=False, repr=False)
    _repos: RepoReader | None = field(default=None, init=False, repr=False)
    _statuses: StatusReporter | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.events = EventStore(self.redis, retention_seconds=self.settings.retention_seconds)
        self.notifications = Notifications(self.settings.channels, transport=self.transport)

    def client(self, target: str) -> TargetClient:
        """The pooled client for ``target`` (created on first use)."""
        if target not in self._clients:
            self._clients[target] = TargetClient(
                target,
                self.settings.targets[target],
                self.tokens,
                token_name=self.settings.token_names[target],
                transport=self.transport,
                observe=partial(self._observe_call, target),
            )
        return self._clients[target]

    @property
    def repos(self) -> RepoReader:
        """The reader of ``repos:`` (caches under the data directory; a refused token reported to its lifecycle)."""
        if self._repos is None:
            self._repos = open_reader(self.settings, self.tokens)
        return self._repos

    @property
    def statuses(self) -> StatusReporter:
        """The commit status reporter (outcomes counted on /metrics)."""
        if self._statuses is None:
            self._statuses = open_status_reporter(self.settings, self.tokens, self.redis, transport=self.transport)
        return self._statuses

    def _observe_call(self, target: str, method: str, status_code: int | None, seconds: float) -> None:
        # relay_admin_calls_total and its duration, counted per request sent (retries and re-reads included).
        count = CallCount(target, method, stats.status_class(status_code), seconds)
        gathered = _gathering.get()
        if gathered is not None:
            gathered.append(count)
            return
        stats.record_call(self.redis, count.target, count.method, count.status_class, count.seconds)

    @contextlib.contextmanager
    def gathering_calls(self) -> Iterator[list[CallCount]]:
        """Within the block, the requests sent are counted into the list yielded, for its owner to write."""
        gathered: list[CallCount] = []
        reset = _gathering.set(gathered)
        try:
            yield gathered
        finally:
            _gathering.reset(reset)

    def close(self) -> None:
        """Close every connection pool."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self._statuses is not None:
            self._statuses.close()
        self.notifications.close()
        # A token source holding resources of its own (a pool, a cache) says so with a ``close`` method.
        close_tokens = getattr(self.tokens, "close", None)
        if callable(close_tokens):
            close_tokens()
        self.redis.close()


_runtime: tuple[int, Runtime] | None = None


def get_runtime() -> Runtime:
    """This process's runtime; a forked child builds its own instead of sharing its parent's sockets."""
    global _runtime
    if _runtime is None or _runtime[0] != os.getpid():
        from worker.config import get_settings

        settings = get_settings()
        client = connect(resolve_redis_url(settings))
        # The token store (seeded from targets' token_secret); the configuration alone when no key is set.
        _runtime = (os.getpid(), Runtime(settings, client, token_source(settings, client)))
    return _runtime[1]


def close_runtime() -> None:
    """Release this process's runtime, if it has one."""
    global _runtime
    if _runtime is not None and _runtime[0] == os.getpid():
        _runtime[1].close()
    _runtime = None
