"""``paths`` patterns of a sync action, and file names read from a commit: both must stay inside the repository."""

from __future__ import annotations

import posixpath


def check_pattern(pattern: str) -> str:
    """A relative path or glob with no ``.``/``..`` parts; ValueError otherwise."""
    if not pattern or pattern.startswith("/") or "\\" in pattern or "\x00" in pattern:
        raise ValueError(f"path {pattern[:200]!r} must be relative to the repository's root")
    if any(part in ("..", ".") for part in pattern.split("/")) or posixpath.normpath(pattern) != pattern:
        raise ValueError(f"path {pattern[:200]!r} must not hold '.' or '..' parts")
    return pattern
