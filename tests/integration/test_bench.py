"""``relay bench`` on real processes with tiny counts: every figure is measured (the goals are not asserted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from worker.devtools.bench import BenchPlan, peer, run_bench
from worker.devtools.bench.report import GOALS

pytestmark = pytest.mark.integration

FIGURES = ("rate", "accepted", "failed", "p50_ms", "p99_ms", "p999_ms")


def _tiny() -> BenchPlan:
    # The built-in generator, so that the test needs no wrk; every part still runs.
    return BenchPlan.quick(
        ingest_seconds=1, ingest_requests=300, steady_seconds=1, events=40, latency_seconds=1, rotation_seconds=3,
        generator="builtin",
    )  # fmt: skip


@pytest.mark.timeout(240)
def test_a_tiny_run_measures_every_figure(tmp_path: Path) -> None:
    results: dict[str, Any] = json.loads(json.dumps(run_bench(_tiny(), tmp_path)))

    ingest = results["ingest"]
    peer_installed = peer.available()
    for name in ("hello", "receiver", "hello_steady", "receiver_steady", *(("webhook",) if peer_installed else ())):
        assert set(FIGURES) <= set(ingest[name]), name
        assert ingest[name]["accepted"] > 0, ingest[name]
        assert ingest[name]["failed"] == 0, ingest[name]
    assert ingest["stored"] == ingest["receiver"]["accepted"] + ingest["receiver_steady"]["accepted"]
    assert ingest["ratio"] > 0
    assert ("ratio_webhook" in ingest) is peer_installed
    e2e = results["e2e"]
    assert e2e["relay"]["events"] == e2e["plain"]["events"] == 40
    assert e2e["relay"]["failed"] == e2e["plain"]["failed"] == 0
    assert e2e["ratio"] > 0
    assert e2e["latency"]["p50_ms"] > 0
    assert e2e["latency"]["not_done"] == 0
    rotation = results["rotation"]
    assert rotation["rotations_ok"] == 3, rotation
    assert {"failed_calls", "added_p50_ms", "added_p99_ms"} <= set(rotation)
    assert results["memory"]["receiver_mb"] > 10
    assert results["memory"]["worker_process_mb"] > 10
    assert results["up"]["first_event_seconds"] > 0
    assert results["up"]["up_seconds"] > 0
    assert [row["goal"] for row in results["goals"]] == [goal.name for goal in GOALS]
    unmeasured = {row["goal"] for row in results["goals"] if row["measured"] is None}
    assert unmeasured == (set() if peer_installed else {"ingest / adnanh/webhook (full speed)"}), results["goals"]
