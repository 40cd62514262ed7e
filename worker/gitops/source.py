"""What a reconcile needs of a repository: the files of one commit, and whether one commit comes before another.

``worker.repos`` (reading commits from a git server) implements ``CommitSource``; tests use a fake. Files are read
from git objects at the exact commit, never from a checkout, so a symlink in the repository is only text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class CommitFiles:
    """The files of one commit that matched the patterns: the full commit id and path -> content."""

    sha: str
    files: dict[str, bytes] = field(default_factory=dict, repr=False)


class CommitContent(Protocol):
    """What a reader answers for one commit (``CommitFiles``, or ``worker.repos``' own class of the same shape)."""

    @property
    def sha(self) -> str:
        """The full commit id the revision resolved to."""
        ...

    @property
    def files(self) -> Mapping[str, bytes]:
        """Path (from the repository's root) -> content."""
        ...


class CommitSource(Protocol):
    """Reads commits of the configured repositories."""

    def read_files(self, repo: str, revision: str, patterns: Sequence[str]) -> CommitContent:
        """The files of ``revision`` in ``repo`` whose paths match one of ``patterns`` (globs)."""
        ...

    def is_ancestor(self, repo: str, older: str, newer: str) -> bool:
        """True when ``older`` is an ancestor of ``newer`` (or the same commit)."""
        ...
