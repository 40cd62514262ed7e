"""A fault run: steady deliveries while workers, Redis and the receiver are killed and the admin API fails.

It fails unless every acknowledged event is accounted for (done or dead-lettered with a reason) and no create
took effect twice at the sandbox.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography.fernet import Fernet

from worker.devtools.chaos import rotations
from worker.devtools.chaos.cluster import Cluster
from worker.devtools.chaos.delivery import post_delivery
from worker.devtools.chaos.report import Report, build_report
from worker.devtools.chaos.timeline import Timeline
from worker.devtools.supervise.embedded import free_port

CHAOS_TOKEN_ENV = "RELAY_CHAOS_SANDBOX_TOKEN"  # noqa: S105 (a variable name)
READ_TIMEOUT = 2.0


@dataclass
class ChaosPlan:
    """How hard and how long to push."""

    duration: float = 60.0
    rate: float = 10.0
    kill_every: float = 3.0
    redis_restarts: int = 2
    settle_timeout: float = 120.0
    seed: int | None = None
    pushes: int = 12  # the reconcile workload's revisions
    api7_version: str = "3.5"  # the reconcile workload's API7 generation: 3.5 (runtime resources) or 3.2 (publish)


def write_config(work_dir: Path, secret: str, sandbox_port: int) -> Path:
    """A relay.yaml: one GitHub source, the sandbox's API7 and GitLab as targets (their tokens in the store, rotated
    during the run), a rule whose actions are a non-idempotent create and a GitLab call."""
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    timeouts = {"connect_timeout": 1, "read_timeout": READ_TIMEOUT}
    config = {
        "data_dir": str(work_dir / ".relay"),
        "sources": {"chaos": {"kind": "github", "secret": secret}},
        "targets": {
            "sandbox": {"kind": "api7", "base_url": sandbox, "token": rotations.API7_TOKEN, **timeouts},
            "lab": {"kind": "gitlab", "base_url": sandbox, "token": rotations.GITLAB_TOKEN, **timeouts},
        },
        "rules": [
            {
                "name": "create",
                "do": [
                    {
                        "call": "sandbox",
                        "method": "POST",
                        "path": "/apisix/admin/services",
                        "json": {"name": "chaos-{{ event.id }}"},
                    },
                    {"call": "lab", "method": "GET", "path": rotations.GITLAB_SELF},
                ],
            }
        ],
        "celery": {"max_retries": 12, "retry_backoff_max": 4},
        "tokens": {"lock_seconds": rotations.LOCK_SECONDS, "rotate": {"max_age_days": rotations.MAX_AGE_DAYS}},
    }
    path = work_dir / "relay.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def post_steadily(url: str, secret: str, plan: ChaosPlan, timeline: Timeline, stop: threading.Event) -> None:
    """Post one signed, unique delivery every 1/rate seconds until the duration is over."""
    interval = 1.0 / plan.rate
    started = time.monotonic()
    with httpx.Client(timeout=5) as client:
        n = 0
        while not stop.is_set() and time.monotonic() - started < plan.duration:
            timeline.posted.append(post_delivery(client, url, secret, {"n": n}))
            n += 1
            stop.wait(max(0.0, started + n * interval - time.monotonic()))


def inject_faults(cluster: Cluster, plan: ChaosPlan, timeline: Timeline, rng: random.Random) -> None:
    """Kill a random worker every ``kill_every`` s, restart Redis and the receiver, and make the sandbox fail."""
    started = time.monotonic()
    redis_at = [plan.duration * (k + 1) / (plan.redis_restarts + 1) for k in range(plan.redis_restarts)]
    receiver_at = plan.duration * 0.5 + plan.kill_every / 2
    next_kill = plan.kill_every
    while (elapsed := time.monotonic() - started) < plan.duration:
        if redis_at and elapsed >= redis_at[0]:
            kill = len(redis_at) % 2 == 0  # the first restart is a SIGKILL, the next a clean stop
            cluster.restart_redis(kill=kill)
            timeline.faults.append((time.time(), f"redis {'killed' if kill else 'stopped'} and restarted"))
            redis_at.pop(0)
        if receiver_at is not None and elapsed >= receiver_at:
            cluster.restart("receiver")
            timeline.faults.append((time.time(), "receiver killed and restarted"))
            receiver_at = None  # type: ignore[assignment]
        if elapsed >= next_kill and not rotations.rotating(cluster.redis.url):
            victim = rng.choice([name for name in cluster.children if name.startswith("worker")])
            cluster.restart(victim)
            timeline.faults.append((time.time(), f"{victim} killed and restarted"))
            next_kill += plan.kill_every
        time.sleep(0.05)


def sandbox_faults() -> list[dict[str, Any]]:
    """About a fifth of the calls fail: 503s, 429s with Retry-After, and creates answered after the read timeout.

    The slow ones take effect before the late answer (``"when": "after"``): the outcome is unknown to Relay, as
    when a real gateway applies a write and the answer is lost.
    """
    return [
        {"status": 503, "rate": 0.12},
        {"status": 429, "retry_after": 1, "rate": 0.04},
        {"latency_ms": int(READ_TIMEOUT * 1000) + 500, "when": "after", "method": "POST", "rate": 0.04},
    ]


def run(plan: ChaosPlan, work_dir: Path) -> Report:
    """Run the whole fault plan on fresh processes in ``work_dir`` and return the report."""
    rng = random.Random(plan.seed)
    secret, token, sandbox_port = secrets.token_hex(16), secrets.token_urlsafe(24), free_port()
    config = write_config(work_dir, secret, sandbox_port)
    key = Fernet.generate_key().decode()
    env = environment(token, key)
    cluster = Cluster(work_dir, config, env)
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    timeline = Timeline()
    try:
        cluster.start(sandbox_port)
        tokens = rotations.Tokens(sandbox, token, cluster.child_env, key, sandbox_faults())
        rotations.seed(tokens)
        tokens.set_faults()
        _under_faults(cluster, plan, timeline, rng, secret, tokens)
        httpx.delete(f"{sandbox}/_sandbox/faults", timeout=5)
        timeline.faults.append((time.time(), "faults stopped"))
        report = build_report(cluster.redis.url, sandbox, timeline, plan.settle_timeout)
        return _with_tokens(report, tokens, cluster, secret)
    finally:
        cluster.stop()


def _under_faults(
    cluster: Cluster,
    plan: ChaosPlan,
    timeline: Timeline,
    rng: random.Random,
    secret: str,
    tokens: rotations.Tokens,
) -> None:
    """Deliveries, faults and rotations at once, until the plan's duration is over (and the rotations done)."""
    stop = threading.Event()
    sender = threading.Thread(
        target=post_steadily, args=(f"{cluster.receiver_url}/hooks/chaos", secret, plan, timeline, stop)
    )
    sender.start()
    rotator = rotations.start(cluster, tokens, plan.duration, lambda what: timeline.faults.append((time.time(), what)))
    try:
        inject_faults(cluster, plan, timeline, rng)
    finally:
        sender.join(plan.duration + 30)
        stop.set()
        rotator.join(rotations.LOCK_SECONDS * 3 + 60)


def _with_tokens(report: Report, tokens: rotations.Tokens, cluster: Cluster, secret: str) -> Report:
    """Add what became of the tokens: the rotations, the tokens lost, and calls failing once all has settled."""
    report.rotations = rotations.outcomes(tokens, cluster.redis.url)
    report.tokens_lost = rotations.lost_tokens(tokens, cluster.redis.url)
    report.failed_calls_after_settle = calls_after_settle(cluster, tokens.sandbox, secret)
    return report


def calls_after_settle(cluster: Cluster, sandbox: str, secret: str, count: int = 5) -> int:
    """Post ``count`` more deliveries once all has settled: their failed calls, and the deliveries not done."""
    since = time.time()
    timeline = Timeline()
    plan = ChaosPlan(duration=count / 10, rate=10)
    post_steadily(f"{cluster.receiver_url}/hooks/chaos", secret, plan, timeline, threading.Event())
    final = build_report(cluster.redis.url, sandbox, timeline, 60)
    records = httpx.get(f"{sandbox}/_sandbox/requests", timeout=10).json()
    answered = [r for r in records if r["time"] >= since and not r["path"].startswith("/_sandbox")]
    failed = sum(1 for r in answered if r["status"] >= 400)
    return failed + (final.posted - final.done)


def environment(token: str, key: str) -> dict[str, Any]:
    """The run's processes' environment: this one's without its Relay settings, the sandbox's token, the token key."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RELAY_")}
    return {**env, CHAOS_TOKEN_ENV: token, "RELAY_SANDBOX_TOKEN": token, "RELAY_TOKEN_KEY": key}
