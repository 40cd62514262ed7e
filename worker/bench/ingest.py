"""Ingest: the receiver against uvicorn's fastest hello-world and adnanh/webhook, with the same load generator."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from worker.bench import loadgen, peer, wrk
from worker.bench.procs import Bench
from worker.redis import connect, free_port

CONNECTIONS = 32
STEADY_RATE = 500.0
STEADY_CONNECTIONS = 10
# Unique deliveries in wrk's file per second of a run: far above what the receiver answers.
WRK_DELIVERIES_PER_SECOND = 20_000


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
    peer: bool = True  # adnanh/webhook too, when installed


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


def measure(port: int, secret: str, plan: IngestPlan, *, steady: bool, script: Path | None = None) -> Figures:
    """Load ``port`` flat out (with wrk's ``script`` when given), or at ``STEADY_RATE`` when ``steady``.

    A steady rate is always the built-in generator's: wrk cannot hold a fixed rate (its ``delay`` makes a closed
    loop whose rate falls as answers slow, which would hide the latency a fixed rate is meant to show).
    """
    if script is not None and not steady:
        return _from_wrk(wrk.run_wrk(f"http://127.0.0.1:{port}", script, seconds=plan.seconds, connections=CONNECTIONS))
    count = int(STEADY_RATE * plan.steady_seconds) if steady else plan.requests
    requests = loadgen.deliveries(count, port, secret)
    rate = STEADY_RATE if steady else None
    concurrency = STEADY_CONNECTIONS if steady else CONNECTIONS
    return _from_builtin(loadgen.run_drive(port, requests, concurrency=concurrency, rate=rate))


def _baselines(bench: Bench, secret: str, plan: IngestPlan, script: Path | None) -> dict[str, Figures]:
    """The hello-world (flat out and steady) and, when installed, adnanh/webhook (flat out), one after the other."""
    figures: dict[str, Figures] = {}
    port = free_port()
    bench.start_hello(port)
    try:
        figures["hello"] = measure(port, secret, plan, steady=False, script=script)
        figures["hello_steady"] = measure(port, secret, plan, steady=True)
    finally:
        bench.stop_child("hello")
    if plan.peer and peer.available():
        port = free_port()
        bench.start_peer(port, secret)
        try:
            figures["webhook"] = measure(port, secret, plan, steady=False, script=script)
        finally:
            bench.stop_child("webhook")
    return figures


def run_ingest(bench: Bench, secret: str, plan: IngestPlan) -> dict[str, Any]:
    """Baselines then receiver, fed the same signed deliveries; the receiver's stored count checked."""
    script = None
    if plan.generator == "wrk":
        # One file of unique deliveries for every server, more than the receiver answers in the run: it never sees
        # one twice (a duplicate is answered 200 and would count as accepted); the baselines may loop over it.
        count = max(1000, int(WRK_DELIVERIES_PER_SECOND * plan.seconds))
        script = wrk.write_script(bench.work_dir / "wrk.lua", count, secret, run=uuid.uuid4().hex[:12])
    figures = _baselines(bench, secret, plan, script)
    client = connect(bench.redis.url)
    stored_before = int(client.zcard("relay:events"))
    figures["receiver"] = measure(bench.receiver_port, secret, plan, steady=False, script=script)
    figures["receiver_steady"] = measure(bench.receiver_port, secret, plan, steady=True)
    stored = int(client.zcard("relay:events")) - stored_before
    client.close()
    hello, webhook = figures["hello"].rate, figures["webhook"].rate if "webhook" in figures else None
    return {
        "generator": plan.generator,
        "receiver_workers": bench.receiver_workers,
        "connections": CONNECTIONS,
        "steady_rate": STEADY_RATE,
        "steady_generator": "builtin",
        **{name: asdict(value) for name, value in figures.items()},
        "stored": stored,
        "ratio": figures["receiver"].rate / hello if hello else 0.0,
        **({"ratio_webhook": figures["receiver"].rate / webhook} if webhook else {}),
    }
