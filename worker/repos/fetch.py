"""Fetching what a commit needs into a repository's bare cache: shallow, bounded in time and size.

A commit is fetched by its id (``git fetch --depth 1 <url> <sha>``). A server that refuses unadvertised ids
(``uploadpack.allowReachableSHA1InWant`` is off by default with protocol v0) gets the branches instead, first
shallow, then deeper, and the commit must then be there. Fetched commits are kept under ``refs/relay/`` so git
never drops them. Git's answers are turned into Relay's errors here (``classify``): 401 refused token, 403 no
access, 404 no repository, a network failure or 5xx retryable.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from worker.errors import (
    RepoAuthError,
    RepoError,
    RepoLimitExceeded,
    RepoNotFound,
    RepoUnavailable,
)
from worker.redaction import basic_credentials
from worker.repos.cache import RepoCache
from worker.repos.config import RepoConfig
from worker.repos.git import Git, GitAborted, GitResult

FULL_DEPTH = 2147483647  # git: "--depth=2147483647 has the same meaning as --unshallow"
BRANCH_DEPTHS = (1, 50, FULL_DEPTH)
COMMIT_REF = "refs/relay/commits/"
HEADS_REF = "refs/relay/heads/"

_UNADVERTISED = ("not our ref", "unadvertised object", "couldn't find remote ref", "no such remote ref")
_AUTH = ("could not read username", "could not read password", "authentication failed", "returned error: 401")
_NETWORK = (
    "could not resolve", "failed to connect", "couldn't connect", "connection refused", "timed out", "early eof",
    "rpc failed", "connection reset", "ssl", "the remote end hung up", "returned error: 5", "http/2 stream",
)  # fmt: skip
_STATUS = re.compile(r"returned error: (\d{3})")
_MISSING = re.compile(r"repository '[^']*' not found|repository not found|does not appear to be a git repository")


@dataclass(frozen=True)
class Access:
    """The token a fetch sends, and its version (for the token lifecycle when it is refused)."""

    header: str
    version: int | None


class Fetcher:
    """Fetches into one cache; the caller holds the cache's lock."""

    def __init__(self, git: Git, cache: RepoCache, repo: str, config: RepoConfig) -> None:
        self.git = git
        self.cache = cache
        self.repo = repo
        self.config = config

    def ensure_cache(self) -> None:
        """Create the bare repository on first use; clear what a killed git left behind."""
        if not self.cache.exists():
            self.cache.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.run(["init", "--bare", "--quiet", "--template=", "."])  # no sample hooks
        self.cache.clear_leftovers()

    def has_commit(self, sha: str) -> bool:
        """Whether the cache holds the commit object ``sha``."""
        return self.run(["cat-file", "-e", f"{sha}^{{commit}}"], check=False).returncode == 0

    def fetch_commit(self, sha: str, access: Access, *, depth: int = 1) -> None:
        """Fetch ``sha`` (and ``depth`` - 1 ancestors); by its id when the server allows, else by the branches."""
        try:
            self._fetch(access, [f"--depth={depth}", self.config.url, f"+{sha}:{COMMIT_REF}{sha}"])
            return
        except _Unadvertised:
            pass
        for branch_depth in BRANCH_DEPTHS:
            if branch_depth < depth:
                continue
            with contextlib.suppress(_Unadvertised):
                self._fetch(access, [f"--depth={branch_depth}", self.config.url, f"+refs/heads/*:{HEADS_REF}*"])
            if self.has_commit(sha):
                self.run(["update-ref", f"{COMMIT_REF}{sha}", sha])
                return
        raise RepoNotFound(f"repository {self.repo}: commit {sha} not found on the server")

    def fetch_ref(self, ref: str, access: Access) -> str:
        """Fetch the tip of ``ref`` (``refs/heads/main``) shallowly and return its commit id."""
        local = HEADS_REF + "named/" + ref.removeprefix("refs/")
        try:
            self._fetch(access, ["--depth=1", self.config.url, f"+{ref}:{local}"])
        except _Unadvertised:
            raise RepoNotFound(f"repository {self.repo}: no {ref} on the server") from None
        return self.run(["rev-parse", "--verify", f"{local}^{{commit}}"]).stdout.decode().strip()

    def run(self, args: list[str], *, check: bool = True, stdin: bytes | None = None) -> GitResult:
        """A local git command in the cache (no network, no token)."""
        result = self.git.run(args, cwd=self.cache.path, timeout=self.config.limits.timeout_seconds, stdin=stdin)
        if check and result.returncode != 0:
            raise RepoUnavailable(f"repository {self.repo}: git {args[0]} failed: {_last_line(result.stderr)}")
        return result

    def _fetch(self, access: Access, args: list[str]) -> None:
        limit = self.config.limits.max_fetch_bytes
        before, packs, shallow = self.cache.objects_bytes(), self.cache.packs(), self._shallow()

        def watch() -> str | None:
            grown = self.cache.objects_bytes() - before
            return f"the fetch passed max_fetch_bytes ({limit} bytes)" if grown > limit else None

        command = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules", *args]
        try:
            result = self.git.run(
                command, cwd=self.cache.path, timeout=self.config.limits.timeout_seconds,
                config=self._config(access), watch=watch,
            )  # fmt: skip
        except GitAborted as exc:
            self._undo(packs, shallow)
            raise RepoLimitExceeded(f"repository {self.repo}: {exc}") from None
        if result.returncode != 0:
            raise classify(self.repo, result.stderr, access.version)
        if self.cache.objects_bytes() - before > limit:
            self._undo(packs, shallow)
            raise RepoLimitExceeded(f"repository {self.repo}: the fetch passed max_fetch_bytes ({limit} bytes)")

    def _config(self, access: Access) -> dict[str, str]:
        # The header is scoped to the repository's URL, and redirects are not followed: a server that sends git
        # elsewhere never gets the token.
        return {
            f"http.{self.config.url}.extraHeader": f"Authorization: {access.header}",
            "http.followRedirects": "false",
            "credential.helper": "",
            "transfer.fsckObjects": "true",
            "gc.auto": "0",
            "maintenance.auto": "false",
            "protocol.allow": "never",
            "protocol.https.allow": "always",
            "protocol.http.allow": "always",
        }

    def _shallow(self) -> bytes | None:
        path = self.cache.path / "shallow"
        return path.read_bytes() if path.exists() else None

    def _undo(self, packs: set[Path], shallow: bytes | None) -> None:
        """Drop what a refused fetch brought: its packs, and the shallow list it changed."""
        for pack in self.cache.packs() - packs:
            pack.unlink(missing_ok=True)
        self.cache.clear_leftovers()
        path = self.cache.path / "shallow"
        if shallow is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(shallow)


class _Unadvertised(RepoError):
    """The server will not send this commit id or ref by name (internal: the caller falls back)."""


def classify(repo: str, stderr: str, version: int | None) -> RepoError:
    """The error a failed fetch means, from git's error output (which holds no secret)."""
    text = stderr.lower()
    status = _STATUS.search(text)
    code = int(status.group(1)) if status else None
    where = f"repository {repo}"
    if any(marker in text for marker in _UNADVERTISED):
        return _Unadvertised(f"{where}: {_last_line(stderr)}")
    if code == 401 or any(marker in text for marker in _AUTH):
        return RepoAuthError(f"{where}: the git server refused the token (401)", status_code=401,
                             token_version=version, refused=True)  # fmt: skip
    if code == 403:
        return RepoAuthError(f"{where}: the token may not read it (403)", status_code=403, token_version=version)
    if code == 404 or _MISSING.search(text):
        return RepoNotFound(f"{where}: not found on the server ({code or 'no repository'})", status_code=code)
    if code == 429 or any(marker in text for marker in _NETWORK):
        return RepoUnavailable(f"{where}: {_last_line(stderr)}", status_code=code)
    return RepoUnavailable(f"{where}: git fetch failed: {_last_line(stderr)}", status_code=code)


def access_for(config: RepoConfig, secret: str, version: int | None) -> Access:
    """The header carrying ``secret`` for this repository's forge."""
    return Access("Basic " + basic_credentials(config.user, secret), version)


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no error output")[:300]
