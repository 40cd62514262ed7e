"""``relay chaos``'s options name exactly the workloads and API7 generations the fault suite has, within bounds."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from worker.cli.chaos import chaos
from worker.devtools.chaos import WORKLOADS
from worker.devtools.chaos.reconcile import GENERATIONS


def _choices(name: str) -> list[str]:
    option = next(p for p in chaos.params if p.name == name)
    assert isinstance(option.type, click.Choice)
    return list(option.type.choices)


def test_the_workload_choices_are_the_workload_table() -> None:
    assert _choices("workload") == list(WORKLOADS)


def test_the_api7_choices_are_the_generations_the_reconcile_workload_drives() -> None:
    assert _choices("api7_version") == list(GENERATIONS)


@pytest.mark.parametrize("pushes", ["0", "501", "many"])
def test_a_number_of_pushes_out_of_bounds_is_refused_before_anything_starts(pushes: str) -> None:
    result = CliRunner().invoke(chaos, ["--workload", "reconcile", "--pushes", pushes])
    assert result.exit_code == 2
    assert "Invalid value for '--pushes'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # a usage error, no traceback
