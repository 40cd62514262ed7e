"""Loading the settings (worker/config/loading.py): the file, the environment over it, a missing file."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.config import load_settings
from worker.errors import ConfigError

GOOD = """
sources:
  github:  {kind: github, secret: ${GITHUB_WEBHOOK_SECRET}}
  ci:      {kind: hmac, secret: ${CI_SECRET}, header: X-Signature, algorithm: sha256, encoding: hex, prefix: "sha256="}
targets:
  prod:    {kind: api7, base_url: "https://api7.example.com:7443", token: prod, auth: header}
  coding:  {kind: coding, base_url: "https://e.coding.net", token: coding-bot, auth: bearer}
channels:
  ops:     {kind: slack, url: "${SLACK_WEBHOOK_URL}"}
rules:
  - name: publish-on-release
    on: {source: github, event: release}
    if: "payload.action == 'published'"
    do:
      - call: prod
        method: POST
        path: /api/services/publish
        json: {gateway_group_id: default, services: ["{{ payload.release.tag_name }}"]}
      - notify: ops
        text: "Published {{ payload.release.tag_name }}"
"""


def test_the_designs_example_loads_with_secrets_from_the_environment(config_file: Path) -> None:
    config_file.write_text(GOOD)
    settings = load_settings()

    github = settings.sources["github"].secret
    assert github is not None
    assert github.get_secret_value() == "gh: #secret, with {yaml} characters"
    assert "gh: #secret" not in repr(settings)
    rule = settings.rules[0]
    assert rule.on.source == "github"
    assert rule.condition == "payload.action == 'published'"
    assert settings.token_names == {"prod": "prod", "coding": "coding-bot"}


def test_environment_overrides_scalars(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file.write_text(GOOD)
    monkeypatch.setenv("RELAY_REDIS_URL", "redis://example:6379/3")
    monkeypatch.setenv("RELAY_CELERY__CONCURRENCY", "7")

    settings = load_settings()

    assert settings.redis_url == "redis://example:6379/3"
    assert settings.celery.concurrency == 7


def test_missing_default_file_is_an_empty_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAY_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_settings().sources == {}


def test_named_config_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings()
