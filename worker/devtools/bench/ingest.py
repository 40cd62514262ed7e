"""Ingest: the receiver against uvicorn's fastest hello-world and adnanh/webhook, with the same load generator."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from worker.devtools.bench import loadgen, peer, wrk
from worker.devtools.bench.procs import Bench
from worker.devtools.supervise.embedded import free_port
from worker.store.connection import connect
from worker.store.keyspace import INDEX_KEY

CONNECTIONS = 32
STEADY_RATE = 500.0
STEADY_CONNECTIONS = 10
# Unique deliveries in wrk's file per second of a run: far above what the receiver answers.
WRK_DELIVERIES_PER_SECOND = 20_000
# Turns each server takes at full speed (wrk), the run's seconds split between them.
ROUNDS = 2


@dataclass(frozen=True)
class Figures:
    """One server under one load: answered per second and answer latency."""

    rate: float
    accepted: int
    failed: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    # CPU time of the server's processes per answered request (wrk runs): what a request costs the server whatever
    # else runs on the machine, where the rate depends on the CPU the server got.
    cpu_us: float | None = None
    redis_cpu_us: float | None = None  # the receiver's: Redis's CPU time per answered request, on top


@dataclass(frozen=True)
class IngestPlan:
    """How long (wrk) or how many requests (built-in generator) each run takes."""

    seconds: float
    requests: int
    steady_seconds: float
    generator: str  # "wrk" or "builtin"
    peer: bool = True  # adnanh/webhook too, when installed


def _from_wrk(result: wrk.WrkResult, cpu_seconds: float | None = None) -> Figures:
    failed = result.non2xx + result.errors
    accepted = result.requests - result.non2xx
    cpu_us = cpu_seconds * 1e6 / result.requests if cpu_seconds is not None and result.requests else None
    return Figures(accepted / result.seconds, accepted, failed, result.p50_ms, result.p99_ms, result.p999_ms, cpu_us)


def _from_builtin(result: loadgen.Result) -> Figures:
    ms = [x * 1000 for x in result.latencies]
    failed = sum(n for status, n in result.statuses.items() if status not in (200, 202))
    return Figures(
        result.accepted / result.seconds, result.accepted, failed,
        loadgen.percentile(ms, 0.50), loadgen.percentile(ms, 0.99), loadgen.percentile(ms, 0.999),
    )  # fmt: skip


def measure(port: int, secret: str, plan: IngestPlan, *, steady: bool) -> Figures:
    """Load ``port`` with the built-in generator: flat out, or at ``STEADY_RATE`` when ``steady``.

    A steady rate is always the built-in generator's: wrk cannot hold a fixed rate (its ``delay`` makes a closed
    loop whose rate falls as answers slow, which would hide the latency a fixed rate is meant to show).
    """
    count = int(STEADY_RATE * plan.steady_seconds) if steady else plan.requests
    requests = loadgen.signed_requests(count, port, secret)
    rate = STEADY_RATE if steady else None
    concurrency = STEADY_CONNECTIONS if steady else CONNECTIONS
    return _from_builtin(loadgen.run_drive(port, requests, concurrency=concurrency, rate=rate))


def flat_out_in_turns(bench: Bench, ports: dict[str, int], plan: IngestPlan, script: Path) -> dict[str, Figures]:
    """Each server flat out under wrk, in turns: ``ROUNDS`` slices of ``plan.seconds / ROUNDS`` each, per server.

    On a shared machine the load drifts within a minute; taking turns spreads that drift over every server alike
    instead of giving one server a quiet half minute and the next a busy one. Each slice starts further into the
    file of unique deliveries, so the receiver never gets one twice. A server's percentiles are its worst slice's.
    """
    runs: dict[str, list[wrk.WrkResult]] = {name: [] for name in ports}
    cpu = dict.fromkeys(ports, 0.0)
    redis_cpu = 0.0  # Redis's work for the receiver's deliveries
    count = max(1000, int(WRK_DELIVERIES_PER_SECOND * plan.seconds))
    for number in range(ROUNDS):
        for name, port in ports.items():
            before, redis_before = bench.cpu(name), bench.cpu("redis")
            runs[name].append(
                wrk.run_wrk(
                    f"http://127.0.0.1:{port}", script, seconds=plan.seconds / ROUNDS, connections=CONNECTIONS,
                    offset=number * count // ROUNDS,
                )
            )  # fmt: skip
            cpu[name] += bench.cpu(name) - before
            if name == "receiver":
                redis_cpu += bench.cpu("redis") - redis_before
    figures = {name: _from_wrk(wrk.combined(results), cpu[name]) for name, results in runs.items()}
    answered = sum(r.requests for r in runs["receiver"])
    figures["receiver"] = replace(figures["receiver"], redis_cpu_us=redis_cpu * 1e6 / answered if answered else None)
    return figures


def _started(bench: Bench, secret: str, plan: IngestPlan) -> dict[str, int]:
    """The baselines started beside the receiver (adnanh/webhook when installed): name to port."""
    ports = {"hello": free_port()}
    bench.start_hello(ports["hello"])
    if plan.peer and peer.available():
        ports["webhook"] = free_port()
        bench.start_peer(ports["webhook"], secret)
    return ports


def _figures(bench: Bench, secret: str, plan: IngestPlan, ports: dict[str, int]) -> dict[str, Figures]:
    if plan.generator == "wrk":
        # Unique deliveries, more than the receiver answers in the run (a duplicate is answered 200 and would count
        # as accepted); the same file for every server.
        count = max(1000, int(WRK_DELIVERIES_PER_SECOND * plan.seconds))
        script = wrk.write_script(bench.work_dir / "wrk.lua", count, secret, run=uuid.uuid4().hex[:12])
        figures = flat_out_in_turns(bench, ports, plan, script)
    else:
        figures = {name: measure(port, secret, plan, steady=False) for name, port in ports.items()}
    for name in ("hello", "receiver"):
        figures[f"{name}_steady"] = measure(ports[name], secret, plan, steady=True)
    return figures


def run_ingest(bench: Bench, secret: str, plan: IngestPlan) -> dict[str, Any]:
    """Baselines and receiver, fed the same signed deliveries in turns; the receiver's stored count checked."""
    ports = _started(bench, secret, plan)
    client = connect(bench.redis.url)
    try:
        stored_before = int(client.zcard(INDEX_KEY))
        figures = _figures(bench, secret, plan, {**ports, "receiver": bench.receiver_port})
        stored = int(client.zcard(INDEX_KEY)) - stored_before
    finally:
        client.close()
        for name in ports:
            bench.stop_child(name)
    hello, webhook = figures["hello"].rate, figures["webhook"].rate if "webhook" in figures else None
    return {
        "generator": plan.generator,
        "rounds": ROUNDS if plan.generator == "wrk" else 1,
        "receiver_workers": bench.receiver_workers,
        "connections": CONNECTIONS,
        "steady_rate": STEADY_RATE,
        "steady_generator": "builtin",
        **{name: asdict(value) for name, value in figures.items()},
        "stored": stored,
        "ratio": figures["receiver"].rate / hello if hello else 0.0,
        **({"ratio_webhook": figures["receiver"].rate / webhook} if webhook else {}),
        **_cpu_ratios(figures),
    }


def _cpu_ratios(figures: dict[str, Figures]) -> dict[str, float]:
    """Each baseline's CPU per request over the receiver's: the rate ratio with a core each to themselves."""
    receiver = figures["receiver"].cpu_us
    if not receiver:
        return {}
    baselines = ((name, figures.get(name)) for name in ("hello", "webhook"))
    return {f"cpu_ratio_{name}": f.cpu_us / receiver for name, f in baselines if f is not None and f.cpu_us}
