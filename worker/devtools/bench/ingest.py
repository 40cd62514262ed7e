"""Ingest: the receiver against a bare ASGI hello-world on the same server stack and load generator."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from worker.devtools.bench import loadgen, wrk
from worker.devtools.bench.procs import Bench
from worker.devtools.supervise.embedded import free_port
from worker.store.connection import connect
from worker.store.keyspace import INDEX_KEY

CONNECTIONS = 32
STEADY_RATE = 500.0
STEADY_CONNECTIONS = 10


@dataclass(frozen=True)
class Figures:
    """One server under one load: answered per second and answer latency."""

    rate: float
    accepted: int
    failed: int
    p50_ms: float
    p99_ms: float
    p999_ms: float


@dataclass(frozen=True)
class IngestPlan:
    """How long (wrk) or how many requests (built-in generator) each run takes."""

    seconds: float
    requests: int
    steady_seconds: float
    generator: str  # "wrk" or "builtin"


def _from_wrk(result: wrk.WrkResult) -> Figures:
    failed = result.non2xx + result.errors
    accepted = result.requests - result.non2xx
    return Figures(accepted / result.seconds, accepted, failed, result.p50_ms, result.p99_ms, result.p999_ms)


def _from_builtin(result: loadgen.Result) -> Figures:
    ms = [x * 1000 for x in result.latencies]
    failed = sum(n for status, n in result.statuses.items() if status not in (200, 202))
    return Figures(
        result.accepted / result.seconds, result.accepted, failed,
        loadgen.percentile(ms, 0.50), loadgen.percentile(ms, 0.99), loadgen.percentile(ms, 0.999),
    )  # fmt: skip


def measure(port: int, secret: str, plan: IngestPlan, work_dir: Path, *, steady: bool) -> Figures:
    """Load ``port`` flat out (wrk when chosen), or at ``STEADY_RATE`` when ``steady``, with unique deliveries.

    A steady rate is always the built-in generator's: wrk cannot hold a fixed rate (its ``delay`` makes a closed
    loop whose rate falls as answers slow, which would hide the latency a fixed rate is meant to show).
    """
    if plan.generator == "wrk" and not steady:
        script = wrk.write_script(
            work_dir / f"wrk-{port}.lua", max(1000, int(12000 * plan.seconds)), secret,
            run=uuid.uuid4().hex[:12],
        )  # fmt: skip
        return _from_wrk(wrk.run_wrk(f"http://127.0.0.1:{port}", script, seconds=plan.seconds, connections=CONNECTIONS))
    count = int(STEADY_RATE * plan.steady_seconds) if steady else plan.requests
    requests = loadgen.deliveries(count, port, secret)
    rate = STEADY_RATE if steady else None
    concurrency = STEADY_CONNECTIONS if steady else CONNECTIONS
    return _from_builtin(loadgen.run_drive(port, requests, concurrency=concurrency, rate=rate))


def run_ingest(bench: Bench, secret: str, plan: IngestPlan) -> dict[str, Any]:
    """Hello-world then receiver, each flat out and at a steady rate; the receiver's stored count checked."""
    figures: dict[str, Figures] = {}
    port = free_port()
    bench.start_hello(port)
    try:
        figures["hello"] = measure(port, secret, plan, bench.work_dir, steady=False)
        figures["hello_steady"] = measure(port, secret, plan, bench.work_dir, steady=True)
    finally:
        bench.stop_child("hello")
    client = connect(bench.redis.url)
    stored_before = int(client.zcard(INDEX_KEY))
    figures["receiver"] = measure(bench.receiver_port, secret, plan, bench.work_dir, steady=False)
    figures["receiver_steady"] = measure(bench.receiver_port, secret, plan, bench.work_dir, steady=True)
    stored = int(client.zcard(INDEX_KEY)) - stored_before
    client.close()
    hello = figures["hello"].rate
    return {
        "generator": plan.generator,
        "receiver_workers": bench.receiver_workers,
        "connections": CONNECTIONS,
        "steady_rate": STEADY_RATE,
        "steady_generator": "builtin",
        **{name: asdict(value) for name, value in figures.items()},
        "stored": stored,
        "ratio": figures["receiver"].rate / hello if hello else 0.0,
    }
