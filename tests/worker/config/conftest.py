"""Fixtures of the configuration tests: a relay.yaml that RELAY_CONFIG points at, its ${ENV} values set."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The path RELAY_CONFIG names (not written yet), with the environment the example refers to."""
    path = tmp_path / "relay.yaml"
    monkeypatch.setenv("RELAY_CONFIG", str(path))
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "gh: #secret, with {yaml} characters")
    monkeypatch.setenv("CI_SECRET", "ci-secret-0123456789")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.example/T000/B000/XXXX")
    return path
