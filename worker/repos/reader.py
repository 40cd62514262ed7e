"""Reading files at a commit: ``RepoReader``, the one entry point for code that needs a repository's contents.

Files are read from git's objects (``git ls-tree`` and ``git cat-file --batch``), never checked out: nothing in a
repository is ever written to disk as a file, and a symbolic link is just a blob holding its target's name.
The token is read from the token store for each fetch (a rotation is seen at once); a 401 re-reads it once, and
a refusal of the newest secret is reported to the token lifecycle (``report_refused``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from worker.errors import AuthError, RepoAuthError, RepoLimitExceeded, RepoNotFound
from worker.ops.logs import register_secret
from worker.repos.cache import RepoCache
from worker.repos.config import RepoConfig
from worker.repos.fetch import FULL_DEPTH, Access, Fetcher, access_for
from worker.repos.git import Git, SubprocessGit
from worker.repos.objects import TreeEntry, list_tree, read_blobs
from worker.targets.tokens import Credential, TokenSource

T = TypeVar("T")
SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
REF = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._/-]{0,254}")
GLOB = re.compile(r"[*?\[]")
DEEPEN = (50, FULL_DEPTH)

Refused = Callable[[str, AuthError], object]


@dataclass(frozen=True)
class RepoFiles:
    """The files of one commit that matched: their paths (relative to the root, in path order) and contents."""

    repo: str
    sha: str
    files: dict[str, bytes] = field(default_factory=dict)


class RepoReader:
    """Reads repositories configured under ``repos:`` into bare caches under ``cache_root``."""

    def __init__(
        self,
        repos: Mapping[str, RepoConfig],
        tokens: TokenSource,
        cache_root: Path,
        *,
        git: Git | None = None,
        on_refused: Refused | None = None,
    ) -> None:
        self.repos = repos
        self.tokens = tokens
        self.cache_root = cache_root
        self.git = git or SubprocessGit(home=cache_root)
        self.on_refused = on_refused

    def read_files(self, repo: str, revision: str, patterns: Sequence[str]) -> RepoFiles:
        """The files matching ``patterns`` (fnmatch globs from the root) at ``revision`` (a commit id or a ref)."""
        checked = [check_pattern(pattern) for pattern in patterns]
        fetcher = self._fetcher(repo)
        with fetcher.cache.locked(fetcher.config.limits.timeout_seconds):
            fetcher.ensure_cache()
            sha = self._resolve(fetcher, revision)
            entries = self._select(repo, list_tree(fetcher, sha), checked, fetcher.config)
            contents = read_blobs(fetcher, entries)
            self._bound(fetcher)
        return RepoFiles(repo, sha, {entry.path: contents[entry.oid] for entry in entries})

    def is_ancestor(self, repo: str, older: str, newer: str) -> bool:
        """Whether commit ``older`` is ``newer`` or one of its ancestors (both full commit ids)."""
        older, newer = check_sha(older), check_sha(newer)
        fetcher = self._fetcher(repo)
        with fetcher.cache.locked(fetcher.config.limits.timeout_seconds):
            fetcher.ensure_cache()
            self._ensure(fetcher, older)
            self._ensure(fetcher, newer)
            if older == newer:
                return True
            # A shallow history can hide an ancestry, never invent one: deepen until it shows or history is whole.
            for depth in DEEPEN:
                if fetcher.run(["merge-base", "--is-ancestor", older, newer], check=False).returncode == 0:
                    return True
                self._deepen(fetcher, newer, depth)
            found = fetcher.run(["merge-base", "--is-ancestor", older, newer], check=False).returncode == 0
            self._bound(fetcher)
            return found

    def _deepen(self, fetcher: Fetcher, sha: str, depth: int) -> None:
        self._with_token(fetcher, lambda access: fetcher.fetch_commit(sha, access, depth=depth))

    @staticmethod
    def _bound(fetcher: Fetcher) -> None:
        if fetcher.cache.objects_bytes() > fetcher.config.limits.max_cache_bytes:
            fetcher.cache.drop()

    def _fetcher(self, repo: str) -> Fetcher:
        config = self.repos.get(repo)
        if config is None:
            raise RepoNotFound(f"no repository {repo!r} under repos: in the configuration")
        cache = RepoCache(self.cache_root, repo, config.url)
        return Fetcher(self.git, cache, repo, config)

    def _resolve(self, fetcher: Fetcher, revision: str) -> str:
        if SHA.fullmatch(revision):
            self._ensure(fetcher, revision)
            return revision
        ref = check_ref(revision)
        return self._with_token(fetcher, lambda access: fetcher.fetch_ref(ref, access))

    def _ensure(self, fetcher: Fetcher, sha: str) -> None:
        if not fetcher.has_commit(sha):
            self._with_token(fetcher, lambda access: fetcher.fetch_commit(sha, access))

    def _with_token(self, fetcher: Fetcher, fetch: Callable[[Access], T]) -> T:
        """Run ``fetch`` with the repository's token; after a 401, once more if the store has a newer secret."""
        name = fetcher.config.token
        credential = self.tokens.current(name)
        try:
            return fetch(self._access(fetcher.config, credential.secret.get_secret_value(), credential.version))
        except RepoAuthError as exc:
            if not exc.refused:
                raise
            newer = self.tokens.current(name)
            if newer.version == credential.version:
                self._refused(name, exc)
                raise
        return self._retry(fetcher, fetch, newer)

    def _retry(self, fetcher: Fetcher, fetch: Callable[[Access], T], newer: Credential) -> T:
        name = fetcher.config.token
        try:
            return fetch(self._access(fetcher.config, newer.secret.get_secret_value(), newer.version))
        except RepoAuthError as exc:
            if exc.refused:
                self._refused(name, exc)
            raise

    def _access(self, config: RepoConfig, secret: str, version: int) -> Access:
        access = access_for(config, secret, version)
        register_secret(secret)
        register_secret(access.header.removeprefix("Basic "))  # the base64 form is the secret too
        return access

    def _refused(self, token: str, exc: RepoAuthError) -> None:
        if self.on_refused is not None:
            self.on_refused(token, exc)

    @staticmethod
    def _select(repo: str, entries: list[TreeEntry], patterns: list[str], config: RepoConfig) -> list[TreeEntry]:
        chosen = [entry for entry in entries if any(fnmatch.fnmatchcase(entry.path, p) for p in patterns)]
        missing = [p for p in patterns if not GLOB.search(p) and not any(e.path == p for e in chosen)]
        if missing:
            raise RepoNotFound(f"repository {repo}: no file {missing[0]!r} at this commit")
        if len(chosen) > config.limits.max_files:
            raise RepoLimitExceeded(f"repository {repo}: {len(chosen)} files match, past max_files")
        for entry in chosen:
            if entry.size > config.limits.max_file_bytes:
                raise RepoLimitExceeded(
                    f"repository {repo}: {entry.path} is {entry.size} bytes, past max_file_bytes"
                    f" ({config.limits.max_file_bytes})"
                )
        total = sum(entry.size for entry in chosen)
        if total > config.limits.max_read_bytes:
            raise RepoLimitExceeded(
                f"repository {repo}: the files matched are {total} bytes, past max_read_bytes"
                f" ({config.limits.max_read_bytes})"
            )
        return chosen


def check_pattern(pattern: str) -> str:
    """``pattern`` if it is a relative glob inside the repository (no ``..``, no absolute path, no NUL)."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("a file pattern must be a non-empty string")
    if pattern.startswith("/") or "\\" in pattern or "\x00" in pattern:
        raise ValueError(f"file pattern {pattern!r}: use a path relative to the repository root, with '/'")
    if any(part in ("..", ".") for part in pattern.split("/")) or "//" in pattern:
        raise ValueError(f"file pattern {pattern!r}: '..', '.' and empty segments are not allowed")
    return pattern


def check_sha(value: str) -> str:
    """``value`` if it is a full commit id (40 or 64 lowercase hex digits)."""
    if not isinstance(value, str) or not SHA.fullmatch(value):
        raise ValueError(f"not a full commit id: {value[:80]!r}")
    return value


def check_ref(value: str) -> str:
    """A branch name (``main``) or ref (``refs/heads/main``, ``refs/tags/v1``) as ``refs/...``."""
    bad = not REF.fullmatch(value) or ".." in value or "//" in value or value.endswith(("/", ".lock", "."))
    if bad or "@{" in value:
        raise ValueError(f"not a commit id or a valid ref name: {value[:80]!r}")
    return value if value.startswith("refs/") else f"refs/heads/{value}"
