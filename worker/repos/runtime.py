"""The reader a worker process uses: the configured repositories, the token store, the data directory's caches."""

from __future__ import annotations

from worker.errors import AuthError
from worker.repos.reader import RepoReader
from worker.settings import Settings
from worker.targets.tokens import TokenSource
from worker.tokens.lifecycle import report_refused

CACHE_DIR = "repos"


def open_reader(settings: Settings, tokens: TokenSource) -> RepoReader:
    """A ``RepoReader`` whose refused tokens are reported to the token lifecycle (marked invalid, alerted)."""

    def refused(token: str, exc: AuthError) -> None:
        report_refused(tokens, settings, token, exc)

    return RepoReader(settings.repos, tokens, settings.data_dir / CACHE_DIR, on_refused=refused)
