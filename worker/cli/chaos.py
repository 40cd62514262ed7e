"""``relay chaos``: run the fault suite on real processes and say whether anything was lost or done twice."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click


@click.command()
@click.option(
    "--workload",
    type=click.Choice(["calls", "reconcile"]),
    default="calls",
    show_default=True,
    help="calls: deliveries whose calls create at the sandbox, tokens rotating; reconcile: pushes of a changing "
    "ADC file that the sandbox's gateway group follows.",
)
@click.option("--duration", default=60.0, show_default=True, help="Seconds of deliveries under faults.")
@click.option("--rate", default=10.0, show_default=True, help="Deliveries per second (calls).")
@click.option(
    "--pushes",
    type=click.IntRange(1, 500),
    default=12,
    show_default=True,
    help="Revisions pushed over the duration (reconcile); 1 to 500.",
)
@click.option(
    "--api7",
    "api7_version",
    type=click.Choice(["3.5", "3.2"]),
    default="3.5",
    show_default=True,
    help="API7 generation the sandbox stands in for (reconcile): 3.5 runtime resources, 3.2 templates and publish.",
)
@click.option("--kill-every", default=3.0, show_default=True, help="Seconds between worker kills.")
@click.option("--settle-timeout", default=120.0, show_default=True, help="Seconds to wait for every event to end.")
@click.option("--seed", type=int, help="Seed for which worker is killed and which fault comes next.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write JSON here.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), help="Default: a temporary directory.")
def chaos(
    workload: str,
    duration: float,
    rate: float,
    pushes: int,
    api7_version: str,
    kill_every: float,
    settle_timeout: float,
    seed: int | None,
    json_path: Path | None,
    work_dir: Path | None,
) -> None:
    """Post deliveries while killing workers, Redis and the receiver; exit 1 if anything was lost or done twice."""
    from worker.devtools.chaos import WORKLOADS, ChaosPlan

    plan = ChaosPlan(
        duration=duration,
        rate=rate,
        kill_every=kill_every,
        settle_timeout=settle_timeout,
        seed=seed,
        pushes=pushes,
        api7_version=api7_version,
    )
    with tempfile.TemporaryDirectory(prefix="relay-chaos-") as tmp:
        directory = work_dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        report = WORKLOADS[workload](plan, directory)
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    for label, value in report.lines():
        click.echo(f"{label:34} {value}")
    click.echo("ok" if report.ok else "FAILED: see the figures above")
    sys.exit(0 if report.ok else 1)
