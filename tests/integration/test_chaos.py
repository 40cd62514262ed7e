"""The fault suite's short runs: kills, restarts and a failing admin API lose nothing and duplicate nothing, and
tokens rotated meanwhile (one rotation cut by SIGKILLed workers) all still work; pushes of a changing ADC file leave
the gateway group at the newest revision, nothing written twice or out of order, nothing not Relay's touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.devtools.chaos import ChaosPlan, run, run_reconcile

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
def test_a_short_fault_run_loses_nothing_and_applies_no_create_twice(tmp_path: Path) -> None:
    report = run(ChaosPlan(duration=20, rate=5, kill_every=3, settle_timeout=90, seed=7), tmp_path)

    assert report.acknowledged > 0.5 * report.posted, report.to_json()  # the receiver was up most of the time
    assert report.missing == [], report.to_json()
    assert report.duplicated_effects == {}, report.to_json()
    assert report.done + sum(report.dead_lettered.values()) == report.acknowledged
    # Each dead letter of unknown outcome, resolved as the sandbox's effects say and replayed, finishes.
    assert sum(report.replayed_unknown.values()) == report.dead_lettered.get("outcome unknown", 0)
    assert report.done_after_replay == report.acknowledged - sum(
        n for reason, n in report.dead_lettered.items() if reason != "outcome unknown"
    )
    assert report.settled_after_last_fault_seconds is not None
    assert report.settled_after_last_fault_seconds < 60, report.to_json()
    assert any("redis killed" in fault for fault in report.faults)
    assert any("receiver killed" in fault for fault in report.faults)
    # Tokens rotate through it all (an API7 and a GitLab token, the workers SIGKILLed mid-rotation) and none is lost.
    assert any("SIGKILLed in the middle of rotating chaos-gitlab" in fault for fault in report.faults), report.faults
    assert any("interrupted rotation settled, and the token rotated again" in f for f in report.faults), report.faults
    gitlab = report.rotations["chaos-gitlab"]
    assert "rotation-interrupted" in gitlab
    assert gitlab[-1] == "rotated", gitlab
    assert "rotated" in report.rotations["chaos-api7"]
    assert report.tokens_lost == []  # every stored secret works at the sandbox
    assert report.failed_calls_after_settle == 0
    assert report.ok, report.to_json()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("api7_version", ["3.5", "3.2"])
def test_a_reconcile_fault_run_ends_at_the_newest_revision_and_writes_nothing_twice(
    tmp_path: Path, api7_version: str
) -> None:
    plan = ChaosPlan(duration=20, pushes=8, kill_every=3, settle_timeout=90, seed=7, api7_version=api7_version)
    report = run_reconcile(plan, tmp_path)

    assert report.pushed == 8
    assert report.acknowledged > 0.5 * report.posted, report.to_json()
    assert report.missing == [], report.to_json()
    # The sandbox's gateway group holds exactly the newest revision's resources, and Relay says it applied that one.
    assert report.state_differences == [], report.to_json()
    assert report.last_applied == report.newest
    assert report.revisions_written >= 2  # more than the first revision reached the gateway under the faults
    assert report.duplicated_writes == {}, report.to_json()
    assert report.older_after_newer == [], report.to_json()
    # The middle revision's file is broken: nothing of it was written, and a run of it failed naming file and line.
    assert report.broken_revision_writes == 0, report.to_json()
    assert "internal error" not in report.dead_lettered, report.to_json()
    assert all("gateway/chaos.yaml:" in error for error in report.broken_revision_errors), report.to_json()
    assert report.foreign_touched == [], report.to_json()  # hand-made, ADC-made, another repository's
    assert any("worker" in fault and "killed" in fault for fault in report.faults)
    assert any("receiver killed" in fault for fault in report.faults)
    assert (tmp_path / "logs" / "sandbox-requests.json").stat().st_size > 0  # the evidence is kept
    assert report.ok, report.to_json()
