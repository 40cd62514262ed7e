"""The configuration models (worker/config/models.py): what each key accepts, as one-line errors naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.worker.config.support import load_error


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
        ("bogus_key: 1", "bogus_key: Extra inputs are not permitted"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key(config_file: Path, text: str, message: str) -> None:
    assert message in load_error(config_file, text)


def test_errors_never_echo_a_secret_value(config_file: Path) -> None:
    text = "sources: {gh: {kind: github, secret: [not-a-string-secret-value]}}"

    assert "not-a-string-secret-value" not in load_error(config_file, text)
