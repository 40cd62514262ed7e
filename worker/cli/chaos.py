"""``relay chaos``: run the fault suite on real processes and say whether anything was lost or done twice."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click


@click.command()
@click.option("--duration", default=60.0, show_default=True, help="Seconds of deliveries under faults.")
@click.option("--rate", default=10.0, show_default=True, help="Deliveries per second.")
@click.option("--kill-every", default=3.0, show_default=True, help="Seconds between worker kills.")
@click.option("--settle-timeout", default=120.0, show_default=True, help="Seconds to wait for every event to end.")
@click.option("--seed", type=int, help="Seed for which worker is killed and which fault comes next.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write JSON here.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), help="Default: a temporary directory.")
def chaos(
    duration: float,
    rate: float,
    kill_every: float,
    settle_timeout: float,
    seed: int | None,
    json_path: Path | None,
    work_dir: Path | None,
) -> None:
    """Post deliveries while killing workers, Redis and the receiver; exit 1 if any event was lost or duplicated."""
    from worker.devtools.chaos import ChaosPlan, run

    plan = ChaosPlan(duration=duration, rate=rate, kill_every=kill_every, settle_timeout=settle_timeout, seed=seed)
    with tempfile.TemporaryDirectory(prefix="relay-chaos-") as tmp:
        directory = work_dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        report = run(plan, directory)
    data = report.to_json()
    if json_path is not None:
        json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    keys = ("posted", "acknowledged", "done", "dead_lettered", "replayed_unknown", "done_after_replay")
    for key in (*keys, "missing_count", "duplicated_effects"):
        click.echo(f"{key:34} {data[key]}")
    click.echo(f"{'longest wait (s)':34} {data['longest_wait_seconds']}")
    click.echo(f"{'settled after last fault (s)':34} {data['settled_after_last_fault_seconds']}")
    for name, outcomes in data["rotations"].items():
        click.echo(f"{'rotations of ' + name:34} {', '.join(outcomes)}")
    click.echo(f"{'tokens lost':34} {data['tokens_lost'] or 0}")
    click.echo(f"{'failed calls after settling':34} {data['failed_calls_after_settle']}")
    click.echo("ok" if report.ok else "FAILED: events missing, effects duplicated, a token lost or calls failing")
    sys.exit(0 if report.ok else 1)
