"""The goals table: each goal met, or missed by the measured distance (never rounded towards a pass)."""

from __future__ import annotations

from typing import Any

import pytest

from worker.devtools.bench.report import GOALS, Goal, goals

AT_LEAST = Goal("ratio", ("x",), 0.40, True, "")
BELOW = Goal("p99", ("x",), 20.0, False, " ms")


@pytest.mark.parametrize(
    ("goal", "value", "verdict"),
    [
        (AT_LEAST, 0.40, "met"),
        (AT_LEAST, 0.3999, "missed: 0.000 short (x1.00 needed)"),
        (AT_LEAST, 0.20, "missed: 0.200 short (x2.00 needed)"),
        (BELOW, 19.99, "met"),
        (BELOW, 20.0, "missed: 0.000 ms over"),
        (BELOW, 27.946, "missed: 7.946 ms over"),
    ],
)
def test_verdict_says_met_or_the_distance(goal: Goal, value: float, verdict: str) -> None:
    assert goal.verdict(value) == verdict


def test_a_part_not_run_is_not_run_and_every_goal_is_listed() -> None:
    results: dict[str, Any] = {"ingest": {"ratio": 0.5, "receiver_steady": {"p99_ms": 5.0}}}

    rows = goals(results)

    assert [row["goal"] for row in rows] == [goal.name for goal in GOALS]
    assert rows[0]["verdict"] == "met"
    assert rows[1]["verdict"] == "met"
    assert {row["verdict"] for row in rows[2:]} == {"not run"}
