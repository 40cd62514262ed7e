"""A real git server for tests: bare repositories with commits, served by ``git http-backend`` behind a token."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from worker.devtools.sandbox.gitserver import GitServer, GitServerState
from worker.repos.config import RepoConfig
from worker.repos.git import GitResult, SubprocessGit
from worker.targets.tokens import Credential

GIT_TOKEN = "glpat-test-git-token-0123456789abcdef"
_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(*args: str, cwd: Path, stdin: bytes | None = None) -> str:
    """Run git for the test's own repositories (never through Relay's seam)."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True, env={**os.environ, **_ENV}
    )
    return result.stdout.decode().strip()


@dataclass
class Origin:
    """A bare repository under the server's root and a work tree to commit from."""

    name: str
    bare: Path
    work: Path

    def commit(self, files: Mapping[str, bytes | str | None], message: str = "change", branch: str = "main") -> str:
        """Write (or with None delete) files, commit, push to the bare repository; the new commit's id."""
        for path, content in files.items():
            target = self.work / path
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", str(self.bare), f"HEAD:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def symlink(self, path: str, points_to: str) -> str:
        """Commit a symbolic link."""
        (self.work / path).symlink_to(points_to)
        return self.commit({}, f"link {path}")


def make_origin(root: Path, name: str = "payments") -> Origin:
    """An empty bare repository ``root/<name>.git`` with a work tree beside the root."""
    bare = root / f"{name}.git"
    work = root.parent / f"{name}-work"
    git("init", "-q", "--bare", str(bare), cwd=root)
    git("init", "-q", "-b", "main", str(work), cwd=root.parent)
    return Origin(name, bare, work)


@contextmanager
def git_server(root: Path, *, tokens: set[str] | None = None, allow_sha_wants: bool = True) -> Iterator[GitServer]:
    """Serve ``root`` on a free loopback port with ``git http-backend``, demanding one of ``tokens``."""
    root.mkdir(parents=True, exist_ok=True)
    state = GitServerState(root, set(tokens or {GIT_TOKEN}), allow_sha_wants=allow_sha_wants)
    server = GitServer(state).start()
    try:
        yield server
    finally:
        server.stop()


class StaticTokens:
    """A ``TokenSource`` with one secret per name that a test can change (as a rotation would)."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = dict(secrets)
        self.versions = dict.fromkeys(secrets, 1)
        self.reads = 0

    def current(self, name: str) -> Credential:
        """The secret stored under ``name``."""
        self.reads += 1
        return Credential(SecretStr(self.secrets[name]), self.versions[name])

    def set(self, name: str, secret: str) -> None:
        """Install a new secret (a new version)."""
        self.secrets[name] = secret
        self.versions[name] += 1


class RecordingGit:
    """The real git seam, keeping every command's arguments and environment for the test to inspect."""

    def __init__(self, home: Path) -> None:
        self.real = SubprocessGit(home=home)
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def run(self, args: Sequence[str], **kwargs: Any) -> GitResult:
        """Record, then run."""
        self.calls.append((list(args), dict(kwargs.get("config") or {})))
        return self.real.run(args, **kwargs)


def repo_config(server: GitServer, name: str = "payments", **extra: Any) -> RepoConfig:
    """A ``RepoConfig`` for ``name`` on the test server with token ``git-bot``."""
    return RepoConfig.model_validate({"url": f"{server.url}/{name}.git", "token": "git-bot", **extra})
