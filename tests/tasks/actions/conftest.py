"""Fixtures of the action runners' tests."""

from __future__ import annotations

import pytest

from worker.tokens import scopes


@pytest.fixture
def grants(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Pretend the token store knows these scopes per target."""
    known: dict[str, set[str]] = {}
    monkeypatch.setattr(scopes, "granted_scopes", lambda tokens, token_name: known.get(token_name))
    return known
