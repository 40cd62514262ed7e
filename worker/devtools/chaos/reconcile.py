"""The reconcile workload: pushes of a changing ADC file while workers are killed and the gateway's admin API fails.

A repository served over HTTP behind a token gets a new revision every ``duration / pushes`` seconds, each announced
by a signed push webhook; some older pushes are delivered again out of order, and the oldest once more after the
newest. Meanwhile a random worker is SIGKILLed every ``kill_every`` seconds, the receiver and Redis (a clean stop)
are restarted once, and the sandbox (API7 3.5) answers about a sixth of the admin API calls with 503s, 429s or an
answer lost after the write took effect. Resources made by hand, by ADC and by another repository sit in the same
gateway group. ``reconcile_report`` says what the run proves.
"""

from __future__ import annotations

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

from worker.devtools.chaos import gateway_files
from worker.devtools.chaos.cluster import Cluster
from worker.devtools.chaos.delivery import post_delivery
from worker.devtools.chaos.reconcile_report import Foreign, Known, ReconcileReport, build_reconcile_report
from worker.devtools.chaos.repository import BRANCH, GatewayRepository
from worker.devtools.chaos.run import READ_TIMEOUT, ChaosPlan, environment, inject_faults
from worker.devtools.chaos.timeline import Pushes, Timeline
from worker.devtools.supervise.embedded import free_port

REPO = "gateway-config"
TARGET = "gateway"
GROUP = "default"


@dataclass(frozen=True)
class Generation:
    """One generation of API7's admin API as the run drives it."""

    sandbox_version: str  # the version the sandbox stands in for
    named_upstreams: bool  # a service's named upstreams (3.2 has none)
    foreign_kinds: frozenset[str]  # kinds seeded outside Relay (3.2's services and routes are templates)


GENERATIONS = {
    "3.5": Generation("3.5.0", named_upstreams=True, foreign_kinds=frozenset({"services", "routes", "consumers"})),
    "3.2": Generation("3.2.14.6", named_upstreams=False, foreign_kinds=frozenset({"consumers"})),
}
GIT_TOKEN_ENV = "RELAY_CHAOS_GIT_TOKEN"  # noqa: S105 (a variable name)
REDELIVER_SHARE = 0.3  # of pushes followed by an older push delivered again


def write_config(work_dir: Path, secret: str, sandbox: str, repo_url: str, api7_version: str) -> Path:
    """A relay.yaml: a GitHub source, the sandbox's API7 and the git server as targets, one sync rule."""
    timeouts = {"connect_timeout": 1, "read_timeout": READ_TIMEOUT}
    git_url = repo_url.rsplit("/", 1)[0]
    token = "${RELAY_SANDBOX_TOKEN}"  # noqa: S105 (a reference to the environment, filled by Relay)
    gateway = {"kind": "api7", "base_url": sandbox, "token_secret": token, "api7_version": api7_version}
    sync = {
        "sync": TARGET, "repo": REPO, "revision": "{{ payload.after }}", "paths": gateway_files.PATHS,
        "gateway_group": GROUP, "prune": True, "env": {"allow": [gateway_files.KEY_VARIABLE]},
    }  # fmt: skip
    config = {
        "data_dir": str(work_dir / ".relay"),
        "sources": {"chaos": {"kind": "github", "secret": secret}},
        "targets": {
            TARGET: {**gateway, **timeouts},
            "git": {"kind": "bearer", "base_url": git_url, "token_secret": f"${{{GIT_TOKEN_ENV}}}"},
        },
        "repos": {REPO: {"url": repo_url, "token": "git", "forge": "git"}},
        "rules": [{"name": "gitops", "on": {"source": "chaos", "event": "push"}, "do": [sync]}],
        "celery": {"max_retries": 30, "retry_backoff_max": 4},
    }
    path = work_dir / "relay.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def sandbox_faults() -> list[dict[str, Any]]:
    """About a sixth of the admin API calls fail; a lost answer comes after its write took effect."""
    return [
        {"status": 503, "rate": 0.1},
        {"status": 429, "retry_after": 1, "rate": 0.03},
        {"latency_ms": int(READ_TIMEOUT * 1000) + 500, "when": "after", "method": "PUT", "rate": 0.04},
    ]


def push_body(sha: str, before: str) -> dict[str, Any]:
    """A GitHub push event of the repository's branch."""
    return {"ref": f"refs/heads/{BRANCH}", "before": before, "after": sha, "repository": {"full_name": REPO}}


def push_revisions(
    repo: GatewayRepository, url: str, secret: str, plan: ChaosPlan, timeline: Timeline, pushes: Pushes
) -> None:
    """Commit and announce each revision in turn; redeliver some older pushes, and the oldest after the newest."""
    rng = random.Random(plan.seed)
    revisions = _revisions(plan)
    interval = plan.duration / max(1, plan.pushes)
    started = time.monotonic()
    with httpx.Client(timeout=5) as client:

        def deliver(sha: str, before: str) -> None:
            posted = post_delivery(client, url, secret, push_body(sha, before))
            timeline.posted.append(posted)
            if posted.event_id:
                pushes.by_event[posted.event_id] = sha

        for revision in revisions:
            before = pushes.shas[-1] if pushes.shas else "0" * 40
            pushes.shas.append(repo.commit(gateway_files.FILE, revision.text, f"revision {revision.number}"))
            pushes.broken = pushes.shas[-1] if revision.broken else pushes.broken
            deliver(pushes.shas[-1], before)
            if len(pushes.shas) > 2 and rng.random() < REDELIVER_SHARE:
                older = rng.randrange(len(pushes.shas) - 1)
                deliver(pushes.shas[older], pushes.shas[older - 1] if older else "0" * 40)
            time.sleep(max(0.0, started + len(pushes.shas) * interval - time.monotonic()))
        deliver(pushes.shas[0], "0" * 40)  # the oldest push, once more, after the newest


def run_reconcile(plan: ChaosPlan, work_dir: Path) -> ReconcileReport:
    """Run the reconcile workload on fresh processes in ``work_dir`` and return its report."""
    secret, token, git_token = secrets.token_hex(16), secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    ci_key = secrets.token_urlsafe(24)
    sandbox_port = free_port()
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    repo = GatewayRepository(work_dir / "git", REPO, git_token).start()
    generation = GENERATIONS[plan.api7_version]
    config = write_config(work_dir, secret, sandbox, repo.url, plan.api7_version)
    env = {
        **environment(token, Fernet.generate_key().decode()), GIT_TOKEN_ENV: git_token,
        gateway_files.KEY_VARIABLE: ci_key,
    }  # fmt: skip
    cluster = Cluster(work_dir, config, env, sandbox_args=("--api7-version", generation.sandbox_version))
    timeline, pushes = Timeline(), Pushes()
    try:
        cluster.start(sandbox_port)
        foreign = Foreign.seed(sandbox, GROUP, generation.foreign_kinds)
        httpx.post(f"{sandbox}/_sandbox/faults", json=sandbox_faults(), timeout=5).raise_for_status()
        _under_faults(cluster, repo, plan, timeline, pushes, secret)
        httpx.delete(f"{sandbox}/_sandbox/faults", timeout=5)
        timeline.faults.append((time.time(), "faults stopped"))
        known = Known(_revisions(plan)[-1].expected, ci_key, foreign)
        report = build_reconcile_report(cluster.redis.url, sandbox, timeline, pushes, known, plan.settle_timeout)
        keep_evidence(sandbox, work_dir)
        return report
    finally:
        cluster.stop()
        repo.stop()


def _under_faults(
    cluster: Cluster, repo: GatewayRepository, plan: ChaosPlan, timeline: Timeline, pushes: Pushes, secret: str
) -> None:
    """Pushes and faults at once, until the plan's duration is over and every revision is pushed."""
    url = f"{cluster.receiver_url}/hooks/chaos"
    pusher = threading.Thread(target=push_revisions, args=(repo, url, secret, plan, timeline, pushes))
    pusher.start()
    try:
        inject_faults(cluster, plan, timeline, random.Random(plan.seed))
    finally:
        pusher.join(plan.duration + 60)


def _revisions(plan: ChaosPlan) -> list[gateway_files.GatewayRevision]:
    named = GENERATIONS[plan.api7_version].named_upstreams
    return gateway_files.series(plan.pushes, plan.seed, named_upstreams=named)


def keep_evidence(sandbox: str, work_dir: Path) -> None:
    """Save the sandbox's request log and the group's final state beside the logs, for whoever reads a failure."""
    for name, path in (("requests", "/_sandbox/requests"), ("gateway-group", f"/_sandbox/gateway_groups/{GROUP}")):
        answer = httpx.get(f"{sandbox}{path}", timeout=30)
        (work_dir / "logs" / f"sandbox-{name}.json").write_text(answer.text, encoding="utf-8")
