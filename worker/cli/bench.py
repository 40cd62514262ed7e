"""``relay bench``: start Redis, the sandbox, the receiver and a worker; measure them against the goals."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

PARTS = ("ingest", "e2e", "rotation", "up")


@click.command()
@click.option("--quick", is_flag=True, help="A ~30 s run with smaller counts (every figure still measured).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 16), help="Receiver processes.")
@click.option("--events", type=click.IntRange(10), help="Events in the end-to-end runs (default 2000; quick 300).")
@click.option(
    "--generator", type=click.Choice(["auto", "wrk", "builtin"]), default="auto", show_default=True,
    help="Ingest load generator: wrk when installed, else the built-in one.",
)  # fmt: skip
@click.option("--only", multiple=True, type=click.Choice(PARTS), help="Run only these parts (repeatable).")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), help="Work in this directory and keep it.")
def bench(
    quick: bool, as_json: bool, workers: int, events: int | None, generator: str, only: tuple[str, ...],
    keep: Path | None,
) -> None:  # fmt: skip
    """Measure ingest, end to end, rotation, memory and start-up against Relay's goals."""
    from worker.devtools.bench import BenchPlan, run_bench
    from worker.devtools.bench.report import render

    changes: dict[str, object] = {"receiver_workers": workers, "generator": generator, "parts": only or PARTS}
    if events is not None:
        changes["events"] = events
    plan = BenchPlan.quick(**changes) if quick else BenchPlan(**changes)  # type: ignore[arg-type]
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        results = run_bench(plan, keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
            results = run_bench(plan, Path(tmp))
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        render(results, click.echo)
