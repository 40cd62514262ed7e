"""The CLI as people expect it: -h, one ``relay:`` error style, exit 2 only for usage errors, the demo's config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from worker.cli import main


@pytest.mark.parametrize("args", [["-h"], ["status", "-h"], ["dlq", "purge", "-h"]])
def test_short_help_works_everywhere(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)

    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (["nosuch"], 2, "relay: No such command 'nosuch'."),
        (["events", "show"], 2, "relay: Missing argument 'EVENT_ID'."),
        (["rules", "check"], 1, "relay: relay.yaml: configuration file not found"),
    ],
)
def test_errors_are_one_relay_line_and_exit_2_only_for_usage(args: list[str], code: int, line: str) -> None:
    result = CliRunner().invoke(main, args)

    assert result.exit_code == code
    assert result.output.strip().splitlines()[-1] == line
    assert "Error:" not in result.output


def test_the_cli_finds_relay_ups_demo_configuration_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELAY_CONFIG", "")  # recorded, so the variable the CLI sets is undone after the test
    monkeypatch.delenv("RELAY_CONFIG")
    (tmp_path / ".relay").mkdir()
    (tmp_path / ".relay" / "up.yaml").write_text("rules: []\n")

    CliRunner().invoke(main, ["-h"])
    assert "RELAY_CONFIG" not in os.environ  # relay up is not running: no redis.url

    (tmp_path / ".relay" / "redis.url").write_text("redis://127.0.0.1:1/0\n")
    result = CliRunner().invoke(main, ["rules", "check"])

    assert result.exit_code == 0, result.output
    assert "up.yaml" in result.output
