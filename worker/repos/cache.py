"""The bare cache of one repository under the data directory, and the file lock that guards it.

    <data_dir>/repos/<name>-<url hash>.git     a bare repository (no work tree, never checked out)
    <data_dir>/repos/<name>-<url hash>.lock    ``fcntl.flock``: one git command sequence at a time per machine

The URL's hash is in the name so that pointing a repository at another URL starts a fresh cache instead of mixing
two histories. Every commit fetched stays (under ``refs/relay/``) until the cache passes ``max_cache_bytes``; then
it is dropped whole after the read, and the next read fetches what it needs again. The lock is per machine (each
machine keeps its own cache); it dies with its process, so a worker killed mid-fetch leaves no stale lock, and
git's own lock files and temporary packs are cleared on the next use.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from worker.errors import RepoUnavailable
from worker.waiting import poll

LOCK_POLL_SECONDS = 0.05


class RepoCache:
    """Paths of one repository's cache, its lock, and what its objects weigh."""

    def __init__(self, root: Path, name: str, url: str) -> None:
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        self.root = root
        self.name = name
        self.path = root / f"{name}-{digest}.git"
        self.lock_path = root / f"{name}-{digest}.lock"

    @contextlib.contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """Hold the cache's lock for the block; ``RepoUnavailable`` (retryable) when it stays busy past ``timeout``."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _acquire(fd, timeout, self.name)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def exists(self) -> bool:
        """Whether the bare repository has been created."""
        return (self.path / "HEAD").is_file()

    def objects_bytes(self) -> int:
        """Bytes under ``objects/`` (packs, loose objects and packs being written)."""
        total = 0
        for directory, _, files in os.walk(self.path / "objects"):
            for file in files:
                with contextlib.suppress(OSError):  # a temporary pack renamed meanwhile
                    total += os.lstat(os.path.join(directory, file)).st_size
        return total

    def packs(self) -> set[Path]:
        """The pack files (``.pack``, ``.idx`` and friends) present now."""
        return set((self.path / "objects" / "pack").glob("pack-*"))

    def drop(self) -> None:
        """Remove the whole cache (the caller holds its lock); the next read starts a fresh one."""
        shutil.rmtree(self.path, ignore_errors=True)

    def clear_leftovers(self) -> None:
        """Remove what a killed git leaves: temporary packs and stale lock files (we hold the cache's lock)."""
        pack_dir = self.path / "objects" / "pack"
        for leftover in [*pack_dir.glob("tmp_*"), *self.path.glob("*.lock"), *self.path.glob("refs/**/*.lock")]:
            with contextlib.suppress(OSError):
                leftover.unlink()


def _acquire(fd: int, timeout: float, name: str) -> None:
    def taken() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            return False
        return True

    if not poll(taken, timeout=timeout, interval=LOCK_POLL_SECONDS):
        raise RepoUnavailable(f"repository {name}: its cache stayed locked for {timeout:g}s (another fetch)")
