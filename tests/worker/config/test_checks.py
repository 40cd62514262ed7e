"""Cross-checks (worker/config/checks.py): unknown targets, channels and repositories, rule names used twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.worker.config.support import load_error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{name: r, do: [{call: nowhere, path: /x}]}]", "calls unknown target 'nowhere'"),
        ("rules: [{name: r, do: [{notify: nobody, text: hi}]}]", "notifies unknown channel 'nobody'"),
        (
            "rules: [{name: r, do: [{notify: c, text: a}]}, {name: r, do: [{notify: c, text: b}]}]\n"
            "channels: {c: {kind: slack, url: 'https://x'}}",
            "rule names must be unique: 'r'",
        ),
        (
            "targets: {gw: {kind: api7, base_url: 'https://gw.test'}}\n"
            "rules: [{name: r, do: [{sync: gw, repo: nowhere, revision: main}]}]",
            "rule 'r' syncs from unknown repository 'nowhere' (add it under repos:)",
        ),
        (
            "targets: {gw: {kind: api7, base_url: 'https://gw.test'}}\n"
            "repos: {cfg: {url: 'https://git.test/acme/cfg.git', token: nobody}}",
            "repos.cfg.token: unknown token 'nobody'",
        ),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key(config_file: Path, text: str, message: str) -> None:
    assert message in load_error(config_file, text)
