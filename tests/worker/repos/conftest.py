"""Fixtures for the repository tests: a bare origin with commits, served by a real git server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.repos.support import Origin, git_server, make_origin
from worker.sandbox.gitserver import GitServer


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    """An empty repository ``payments`` under ``tmp_path/srv``."""
    (tmp_path / "srv").mkdir()
    return make_origin(tmp_path / "srv")


@pytest.fixture
def server(origin: Origin) -> Iterator[GitServer]:
    """The git server serving the origin's root, demanding ``GIT_TOKEN``."""
    with git_server(origin.bare.parent) as running:
        yield running
