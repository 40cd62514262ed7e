"""Every entry point stops on an invalid configuration with one line naming the key, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

BAD = "sources: {gh: {kind: github, secrt: x}}\n"
MESSAGE = "sources.gh.secrt: Extra inputs are not permitted"


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "worker.cli", "up"],
        ["-m", "worker.cli", "webhooks"],
        ["-m", "worker.cli", "events", "list"],
        ["-m", "celery", "-A", "worker", "worker"],
        ["-m", "celery", "-A", "worker", "beat"],
    ],
    ids=["up", "webhooks", "events", "celery-worker", "celery-beat"],
)
def test_invalid_configuration_is_one_line(tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "relay.yaml"
    config.write_text(BAD)

    result = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT, env={"RELAY_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f"relay: {config}: {MESSAGE}"
    assert "Traceback" not in result.stderr


def test_config_option_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "--config", str(missing), "events", "list"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.strip() == f"relay: {missing}: configuration file not found"
