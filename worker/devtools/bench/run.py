"""One benchmark run: start the parts, measure ingest, end to end, rotation, memory and ``relay up``; stop all."""

from __future__ import annotations

import os
import platform
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from worker.devtools.bench import e2e, report, wrk
from worker.devtools.bench.ingest import IngestPlan, run_ingest
from worker.devtools.bench.plain import TOKEN_ENV
from worker.devtools.bench.procs import Bench
from worker.devtools.bench.setup import TOKEN_NAME, install_token, write_config
from worker.devtools.bench.upfirst import first_event_seconds
from worker.store.connection import connect

MB = 1_000_000


@dataclass(frozen=True)
class BenchPlan:
    """What to run and how much of it."""

    ingest_seconds: float = 8.0  # wrk -d8s, as issue 20 measured
    ingest_requests: int = 10_000  # the built-in generator's flat-out run
    steady_seconds: float = 8.0
    events: int = 2000
    latency_rate: float = 100.0
    latency_seconds: float = 10.0
    rotation_seconds: float = 12.0
    receiver_workers: int = 1
    generator: str = "auto"  # "wrk", "builtin" or "auto" (wrk when installed)
    parts: tuple[str, ...] = ("ingest", "e2e", "rotation", "up")

    @classmethod
    def quick(cls, **changes: Any) -> BenchPlan:
        """A ~30 s run: every figure, smaller counts."""
        values: dict[str, Any] = {
            "ingest_seconds": 3.0, "ingest_requests": 2000, "steady_seconds": 2.0, "events": 300,
            "latency_seconds": 3.0, "rotation_seconds": 4.5,
        }  # fmt: skip
        return cls(**{**values, **changes})

    def ingest_plan(self) -> IngestPlan:
        """The ingest part's settings, the generator resolved."""
        generator = self.generator if self.generator != "auto" else ("wrk" if wrk.available() else "builtin")
        return IngestPlan(self.ingest_seconds, self.ingest_requests, self.steady_seconds, generator)


def _environment(work_dir: Path, bench: Bench, secret: str, bootstrap: str, key: str) -> None:
    config = write_config(work_dir / "relay.yaml", secret=secret, sandbox_url=bench.sandbox_url, data_dir=work_dir)
    bench.env.update(
        {"RELAY_CONFIG": str(config), "RELAY_TOKEN_KEY": key, "RELAY_SANDBOX_TOKEN": bootstrap, TOKEN_ENV: bootstrap}
    )


def _machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(), "platform": platform.platform(),
    }  # fmt: skip


def run_bench(plan: BenchPlan, work_dir: Path) -> dict[str, Any]:
    """Run every part of ``plan`` in ``work_dir``; return the figures and each goal's verdict."""
    secret, bootstrap, key = secrets.token_hex(16), secrets.token_urlsafe(24), Fernet.generate_key().decode()
    results: dict[str, Any] = {"machine": _machine(), "plan": plan.__dict__ | {"parts": list(plan.parts)}}
    bench = Bench(work_dir, dict(os.environ), receiver_workers=plan.receiver_workers)
    _environment(work_dir, bench, secret, bootstrap, key)
    started = time.monotonic()
    try:
        bench.start()
        if "ingest" in plan.parts:
            results["ingest"] = run_ingest(bench, secret, plan.ingest_plan())
        if {"e2e", "rotation"} & set(plan.parts):
            results.update(_end_to_end(bench, plan, secret, bootstrap, key))
        results["memory"] = {
            "receiver_mb": bench.peak_kib("receiver", pool=plan.receiver_workers > 1) * 1024 / MB,
            **results.pop("worker_memory", {}),
        }
    finally:
        bench.stop()
    if "up" in plan.parts:
        results["up"] = first_event_seconds(work_dir / "up")
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = time.monotonic() - started
    results["goals"] = report.goals(results)
    return results


def _end_to_end(bench: Bench, plan: BenchPlan, secret: str, bootstrap: str, key: str) -> dict[str, Any]:
    client = connect(bench.redis.url)
    client.flushall()  # the ingest part's queued events are not this part's work
    install_token(bench.sandbox_url, bootstrap, bench.redis.url, key)
    out: dict[str, Any] = {}
    try:
        bench.start_worker("relay", "worker")
        e2e.relay_throughput(bench, client, secret, 20)  # warm: pool processes forked and connected
        if "e2e" in plan.parts:
            relay = e2e.relay_throughput(bench, client, secret, plan.events)
            latency = e2e.relay_latency(bench, client, secret, rate=plan.latency_rate, seconds=plan.latency_seconds)
            out["e2e"] = {"relay": e2e.as_dict(relay), "latency": e2e.as_dict(latency)}
        if "rotation" in plan.parts:
            out["rotation"] = _rotation(bench, client, secret, plan, out.get("e2e", {}).get("latency"))
        out["worker_memory"] = {"worker_process_mb": bench.peak_kib("relay", pool=True) * 1024 / MB}
        bench.stop_child("relay")
        if "e2e" in plan.parts:
            bench.start_worker("plain", "worker.devtools.bench.plain")
            e2e.plain_throughput(bench, 20, prefix="warm")
            plain = e2e.plain_throughput(bench, plan.events)
            out["e2e"]["plain"] = e2e.as_dict(plain)
            out["e2e"]["ratio"] = out["e2e"]["relay"]["rate"] / plain.rate if plain.rate else 0.0
            out["worker_memory"]["plain_worker_process_mb"] = bench.peak_kib("plain", pool=True) * 1024 / MB
    finally:
        client.close()
    return out


def _rotation(
    bench: Bench, client: Any, secret: str, plan: BenchPlan, baseline: dict[str, Any] | None
) -> dict[str, Any]:
    """The steady run with three ``relay tokens rotate`` at a quarter, half and three quarters of it."""
    outcomes: list[int] = []

    def rotate_three_times() -> None:
        start = time.monotonic()
        for quarter in (1, 2, 3):
            time.sleep(max(0.0, start + plan.rotation_seconds * quarter / 4 - time.monotonic()))
            argv = [sys.executable, "-m", "worker.cli", "tokens", "rotate", TOKEN_NAME]
            done = subprocess.run(argv, env=bench.env, capture_output=True, timeout=60, check=False)  # noqa: S603
            outcomes.append(done.returncode)

    lat = e2e.relay_latency(
        bench, client, secret, rate=plan.latency_rate, seconds=plan.rotation_seconds, during=rotate_three_times
    )
    data = e2e.as_dict(lat)
    data["rotations_ok"] = sum(1 for code in outcomes if code == 0)
    if baseline is None:
        baseline = e2e.as_dict(e2e.relay_latency(bench, client, secret, rate=plan.latency_rate, seconds=3))
    data["added_p50_ms"] = lat.p50_ms - baseline["p50_ms"]
    data["added_p99_ms"] = lat.p99_ms - baseline["p99_ms"]
    data["added_max_ms"] = lat.max_ms - baseline["max_ms"]
    return data
