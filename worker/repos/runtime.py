"""The reader a worker process uses: the configured repositories, the token store, the data directory's caches."""

from __future__ import annotations

import httpx
import redis

from worker.config import Settings
from worker.errors import AuthError
from worker.ops import stats
from worker.repos.reader import RepoReader
from worker.repos.statuses import StatusReporter
from worker.targets.tokens import TokenSource
from worker.tokens.lifecycle import report_refused

CACHE_DIR = "repos"


def open_reader(settings: Settings, tokens: TokenSource) -> RepoReader:
    """A ``RepoReader`` whose refused tokens are reported to the token lifecycle (marked invalid, alerted)."""

    def refused(token: str, exc: AuthError) -> None:
        report_refused(tokens, settings, token, exc)

    return RepoReader(settings.repos, tokens, settings.data_dir / CACHE_DIR, on_refused=refused)


def open_status_reporter(
    settings: Settings, tokens: TokenSource, client: redis.Redis, *, transport: httpx.BaseTransport | None = None
) -> StatusReporter:
    """A ``StatusReporter`` whose outcomes are counted on /metrics (``relay_commit_statuses_total``)."""

    def count(repo: str, outcome: str) -> None:
        stats.record_commit_status(client, repo, outcome)

    return StatusReporter(settings.repos, tokens, count=count, transport=transport)
