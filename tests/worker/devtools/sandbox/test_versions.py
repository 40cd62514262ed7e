"""Choosing the generation of API7's admin API the sandbox serves."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from worker.cli.serve import sandbox
from worker.devtools.sandbox.versions import check_version, serves_runtime


@pytest.mark.parametrize(
    ("version", "runtime"),
    [("3.2.14.6", False), ("3.2.16", False), ("3.4.9", False), ("3.5.0", True), ("3.9.2", True), ("4.0.0", True)],
)
def test_the_generation_follows_the_version(version: str, runtime: bool) -> None:
    assert serves_runtime(check_version(version)) is runtime


@pytest.mark.parametrize("version", ["", "3.5", "v3.5.0", "3.5.0-beta", "3.1.0", "2.99.0", "3.5.0.1.2"])
def test_a_bad_version_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match=r"version|3\.2"):
        check_version(version)


def test_the_cli_refuses_a_bad_version_before_serving() -> None:
    result = CliRunner().invoke(sandbox, ["--api7-version", "latest", "--token", "t"])
    assert result.exit_code == 2
    assert "--api7-version" in result.output
    assert "not an API7 version" in result.output
