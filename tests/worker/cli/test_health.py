"""``relay health beat``: healthy only while beat keeps writing its schedule file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from worker.cli import main


@pytest.mark.parametrize(
    ("files", "age", "exit_code"),
    [
        (["celerybeat-schedule"], 10, 0),
        (["celerybeat-schedule.dat", "celerybeat-schedule.dir"], 10, 0),  # dbm.dumb's files
        (["celerybeat-schedule"], 600, 1),  # beat stopped writing it
        ([], 0, 1),  # beat never started
    ],
)
def test_beat_health_follows_the_schedule_files_age(tmp_path: Path, files: list[str], age: int, exit_code: int) -> None:
    for name in files:
        path = tmp_path / name
        path.write_bytes(b"")
        os.utime(path, (time.time() - age, time.time() - age))
    result = CliRunner().invoke(main, ["health", "beat", "--schedule", str(tmp_path / "celerybeat-schedule")])
    assert result.exit_code == exit_code, result.output
