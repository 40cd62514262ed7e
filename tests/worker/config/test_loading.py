"""Settings: YAML plus environment, ${ENV} references, and one-line errors that name the key."""

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


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "relay.yaml"
    monkeypatch.setenv("RELAY_CONFIG", str(path))
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "gh: #secret, with {yaml} characters")
    monkeypatch.setenv("CI_SECRET", "ci-secret-0123456789")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.example/T000/B000/XXXX")
    return path


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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: {gh: {kind: github, secrt: x}}", "sources.gh.secrt: Extra inputs are not permitted"),
        ("sources: {gh: {kind: github}}", "sources.gh: kind 'github' needs a 'secret'"),
        ("sources: {gh: {kind: svn, secret: x}}", "sources.gh.kind: Input should be"),
        (
            "sources: {gh: {kind: none}}",
            "kind 'none' (no signature) is only allowed together with an 'allow'",
        ),
        ("sources: {gh: {kind: github, secret: ${UNSET_FOR_TEST}}}", "environment variable UNSET_FOR_TEST"),
        ("targets: {p: {kind: api7, base_url: 'not a url'}}", "targets.p.base_url"),
        ("targets: {p: {kind: coding, base_url: 'http://x', auth: header}}", "auth 'header' is not valid"),
        ("targets: {c: {kind: coding, base_url: 'http://x', auth: basic}}", "auth 'basic' needs 'basic_user'"),
        (
            "celery: {task_time_limit: 20}\ntargets: {p: {kind: api7, base_url: 'http://x', read_timeout: 14}}",
            "targets.p: connect_timeout + read_timeout must stay below celery.task_time_limit - 5 (15s)",
        ),
        (
            "celery: {visibility_timeout: 3600, task_time_limit: 3000, retry_backoff_max: 3000}",
            "retry_backoff_max + task_time_limit must be below visibility_timeout",
        ),
        ("celery: {task_time_limit: 4000, visibility_timeout: 3600}", "task_time_limit must be below"),
        ("rules: [{name: r, do: [{call: nowhere, path: /x}]}]", "calls unknown target 'nowhere'"),
        ("rules: [{name: r, do: [{notify: nobody, text: hi}]}]", "notifies unknown channel 'nobody'"),
        (
            "rules: [{name: r, do: [{notify: c, text: a}]}, {name: r, do: [{notify: c, text: b}]}]\n"
            "channels: {c: {kind: slack, url: 'https://x'}}",
            "rule names must be unique: 'r'",
        ),
        ("sources: [1, 2", "not valid YAML"),
        ("- just a list", "the top level must be a mapping"),
        ("bogus_key: 1", "bogus_key: Extra inputs are not permitted"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key(config_file: Path, text: str, message: str) -> None:
    config_file.write_text(text)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert str(config_file) in str(caught.value)


def test_errors_never_echo_a_secret_value(config_file: Path) -> None:
    config_file.write_text("sources: {gh: {kind: github, secret: [not-a-string-secret-value]}}")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert "not-a-string-secret-value" not in str(caught.value)


def test_named_config_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings()
