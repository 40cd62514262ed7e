"""GitOps on real processes: signed push webhooks, a git server demanding its token, Celery workers, the sandbox's
API7 3.5 over HTTP. A push leaves the gateway group holding exactly the file's resources; a rename and a removal
write exactly those; ADC's and hand-made resources survive pruning; the newest commit wins; a bad file writes
nothing; no secret reaches a log, Redis or the gateway's request log; a worker killed mid-apply writes nothing twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet

from tests.integration.gitops_support import (
    GIT_TOKEN_ENV,
    REPO,
    adc_file,
    effects,
    gitops_config,
    leaked,
    push,
    route,
    route_id,
    secret_forms,
)
from tests.integration.support import Stack, redis_dump
from tests.support import ROOT, Sandbox, wait_for, wait_for_event
from tests.worker.repos.support import GIT_TOKEN, Origin, git_server, make_origin
from worker.devtools.sandbox.gitserver import GitServer
from worker.devtools.supervise.children import Child
from worker.gitops.ids import sha1
from worker.gitops.revisions import Revisions
from worker.store.events import EventStatus, EventStore

pytestmark = pytest.mark.integration

CI_BOT_KEY = "ci-bot-key-filled-from-the-environment-0123"
TOKEN_KEY = Fernet.generate_key().decode()  # the test's token store key
V1 = adc_file(route("list-invoices", "/invoices"), route("get-invoice", "/invoices/*"), route("export", "/export"))
# Renames get-invoice (ADC's id is the name's hash: a delete and a create), drops export, changes list-invoices.
V2 = adc_file(route("list-invoices", "/invoices", "[GET, HEAD]"), route("show-invoice", "/invoices/*"))


@pytest.fixture
def sandbox(runtime_sandbox: Sandbox) -> Sandbox:
    """The stack's sandbox stands in for API7 3.5 (runtime resources per gateway group)."""
    return runtime_sandbox


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    """An empty repository ``gateway-config`` under ``tmp_path/srv``."""
    (tmp_path / "srv").mkdir()
    return make_origin(tmp_path / "srv", REPO)


@pytest.fixture
def server(origin: Origin) -> Iterator[GitServer]:
    """The git server (``git http-backend``) serving the origin, demanding ``GIT_TOKEN``."""
    with git_server(origin.bare.parent) as running:
        yield running


@pytest.fixture
def gitops(
    stack: Callable[..., Stack], sandbox: Sandbox, server: GitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Stack]:
    """``gitops(workers=1, beat=False, **sync)``: the stack with the sync rule, its secrets in the workers' environment
    only."""
    monkeypatch.setenv("RELAY_TOKEN_KEY", TOKEN_KEY)
    monkeypatch.setenv("RELAY_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv(GIT_TOKEN_ENV, GIT_TOKEN)
    monkeypatch.setenv("CI_BOT_KEY", CI_BOT_KEY)

    def build(*, workers: int = 1, beat: bool = False, **sync: Any) -> Stack:
        return stack(gitops_config(sandbox, server.url, tmp_path / "data", **sync), workers=workers, beat=beat)

    return build


def _done(relay: Stack, event_id: str, status: EventStatus = EventStatus.DONE, timeout: float = 60) -> Any:
    store = EventStore(redis.Redis.from_url(relay.redis_url), retention_seconds=600)
    return wait_for_event(store, event_id, status, timeout=timeout)


def _apply_v1(relay: Stack, origin: Origin) -> str:
    """Commit V1 and push it; its commit once applied."""
    first = origin.commit({"gateway/billing.yaml": V1})
    _done(relay, relay.deliver(push(first)))
    return first


def _ids(sandbox: Sandbox, kind: str) -> set[str]:
    return set(sandbox.group_state("default")["resources"].get(kind, {}))


def test_a_push_leaves_the_group_holding_exactly_the_files_resources(
    gitops: Callable[..., Stack], origin: Origin, sandbox: Sandbox, server: GitServer
) -> None:
    relay = gitops()
    sha = origin.commit({"gateway/billing.yaml": V1, "docs/ignored.yaml": "services: [not, adc]\n"})

    record = _done(relay, relay.deliver(push(sha)))

    (result,) = record.actions
    assert (result.kind, result.detail["outcome"], result.detail["revision"]) == ("sync", "applied", sha)
    state = sandbox.group_state("default")["resources"]
    assert set(state["services"]) == {sha1("billing")}
    assert set(state["routes"]) == {route_id("list-invoices"), route_id("get-invoice"), route_id("export")}
    assert set(state["consumers"]) == {"ci-bot"}
    assert {kind for kind, found in state.items() if found} == {"services", "routes", "consumers"}
    assert state["routes"][route_id("export")]["paths"] == ["/export"]
    assert state["consumers"]["ci-bot"]["plugins"]["key-auth"]["key"].startswith("sha256:")  # stored, never shown
    assert state["services"][sha1("billing")]["labels"]["managed-by"] == "relay"
    # The worker read the commit over HTTP with the token: every git request the server answered was authorised.
    assert server.state.requests
    assert {r.status for r in server.state.requests} == {200}
    assert Revisions(redis.Redis.from_url(relay.redis_url), "gw", "default").state().last_applied == sha


def test_a_rename_and_a_removal_write_exactly_those_and_others_resources_survive(
    gitops: Callable[..., Stack], origin: Origin, sandbox: Sandbox
) -> None:
    relay = gitops()
    first = _apply_v1(relay, origin)
    service = sha1("billing")
    sandbox.seed("routes", "adc-made", {"name": "adc", "paths": ["/adc"], "service_id": service}, made_by="adc")
    sandbox.seed("routes", "hand-made", {"name": "hand", "paths": ["/hand"], "service_id": service})
    sandbox.seed("consumers", "adc_user", {"username": "adc_user"}, made_by="adc")
    before = effects(sandbox)["counts"]
    second = origin.commit({"gateway/billing.yaml": V2})

    record = _done(relay, relay.deliver(push(second, first)))

    assert record.actions[0].detail["outcome"] == "applied"
    after = effects(sandbox)["counts"]
    written = {label: n - before.get(label, 0) for label, n in after.items() if n != before.get(label, 0)}
    routes = "/apisix/admin/routes/"
    assert written == {
        f"PUT {routes}{route_id('list-invoices')}": 1,  # updated
        f"PUT {routes}{route_id('show-invoice')}": 1,  # created (the rename's new id)
        f"DELETE {routes}{route_id('get-invoice')}": 1,  # the rename's old id
        f"DELETE {routes}{route_id('export')}": 1,  # dropped from the file
    }  # the service and the consumer (its key unchanged, seen through the digest of what was applied) untouched
    assert _ids(sandbox, "routes") == {
        route_id("list-invoices"), route_id("show-invoice"), "adc-made", "hand-made",
    }  # fmt: skip
    assert _ids(sandbox, "consumers") == {"ci-bot", "adc_user"}
    assert sandbox.group_state("default")["resources"]["routes"][route_id("list-invoices")]["methods"] == [
        "GET", "HEAD",
    ]  # fmt: skip


def test_the_plan_relay_rules_test_shows_is_exactly_what_the_live_run_writes(
    gitops: Callable[..., Stack], origin: Origin, sandbox: Sandbox, tmp_path: Path
) -> None:
    relay = gitops()
    first = _apply_v1(relay, origin)
    second = origin.commit({"gateway/billing.yaml": V2})
    (tmp_path / "push.json").write_text(json.dumps(push(second, first)))
    before = effects(sandbox)["counts"]

    dry = relay_cli(
        "rules", "test", "--source", "github", "--event", "push", "--payload", str(tmp_path / "push.json"), "--json"
    )

    assert effects(sandbox)["counts"] == before  # the dry run wrote nothing
    (action,) = json.loads(dry)["matched"][0]["actions"]
    planned = Counter(f"{r['method']} {r['path']}" for r in action["requests"])
    assert CI_BOT_KEY not in dry
    _done(relay, relay.deliver(push(second, first)))
    after = effects(sandbox)["counts"]
    assert planned == Counter({label: n - before.get(label, 0) for label, n in after.items()}) - Counter()
    assert sum(planned.values()) == 4


def relay_cli(*args: str) -> str:
    """``relay <args>`` as its own process with the test's environment (configuration, Redis, token key)."""
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_pushes_delivered_out_of_order_end_at_the_newest_commit(
    gitops: Callable[..., Stack], origin: Origin, sandbox: Sandbox
) -> None:
    relay = gitops(workers=2)
    shas = [
        origin.commit({"gateway/billing.yaml": adc_file(route("list-invoices", "/invoices"), route(f"r{n}", f"/r{n}"))})
        for n in range(3)
    ]

    # The newest first, then the older ones while it may still be applying: whatever the order they run in, the
    # group ends at the newest, and the older ones are skipped or left behind, never applied after it.
    events = [relay.deliver(push(sha)) for sha in (shas[2], shas[0], shas[1])]

    for event_id in events:
        _done(relay, event_id, timeout=90)
    assert _ids(sandbox, "routes") == {route_id("list-invoices"), route_id("r2")}
    revisions = Revisions(redis.Redis.from_url(relay.redis_url), "gw", "default")
    assert (revisions.state().last_applied, revisions.state().outcome) == (shas[2], "applied")
    applied = [entry["revision"] for entry in reversed(revisions.history()) if entry["outcome"] == "applied"]
    # Once the newest was applied, nothing older was applied after it (the newest may be checked again: a deferred
    # push's retry finds it applied and writes nothing).
    assert set(applied[applied.index(shas[2]) :]) == {shas[2]}


def test_a_bad_file_fails_the_event_naming_its_file_and_line_and_writes_nothing(
    gitops: Callable[..., Stack], origin: Origin, sandbox: Sandbox
) -> None:
    relay = gitops()
    bad = V1.replace("        uris: [/export]\n", "")  # the route "export" has no uris (line 17 after the removal)
    sha = origin.commit(
        {"gateway/good.yaml": "global_rules:\n  prometheus: {prefer_name: true}\n", "gateway/billing.yaml": bad}
    )

    record = _done(relay, relay.deliver(push(sha)), EventStatus.FAILED)

    assert "gateway/billing.yaml:16: services[0] (billing).routes[2] (export).uris" in (record.error or "")
    assert effects(sandbox)["total"] == 0
    assert sandbox.group_state("default")["resources"].get("global_rules", {}) == {}


def test_no_secret_reaches_a_log_redis_or_the_gateways_request_log(
    gitops: Callable[..., Stack], origin: Origin, sandbox: Sandbox, tmp_path: Path
) -> None:
    relay = gitops()
    first = _apply_v1(relay, origin)
    second = origin.commit({"gateway/billing.yaml": V2})
    _done(relay, relay.deliver(push(second, first)))
    forms = secret_forms([sandbox.token, GIT_TOKEN, CI_BOT_KEY], users=["relay", "x-access-token", "oauth2"])

    logs = b"".join(path.read_bytes() for path in (tmp_path / "logs").glob("*.log"))
    assert b"gitops" in logs or b"sync" in logs, "the worker's log says nothing of the reconcile: it proves nothing"
    assert leaked(logs, forms) == []
    client = redis.Redis.from_url(relay.redis_url)
    dump = redis_dump(client)
    assert b"relay:gitops:inventory:gw:default" in dump  # the reconcile's records are there to be searched
    assert leaked(dump, forms) == []
    recorded = repr(sandbox.requests()).encode()
    assert b"/apisix/admin/consumers/ci-bot" in recorded
    assert leaked(recorded, forms) == []
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file() and path.name != "token.key":
            assert leaked(path.read_bytes(), forms) == [], path


def test_a_worker_killed_mid_apply_resumes_on_another_without_a_duplicate_write(
    gitops: Callable[..., Stack], origin: Origin, sandbox: Sandbox, redis_url: str, start_worker: Callable[..., Child]
) -> None:
    relay = gitops(max_in_flight=1, beat=True)  # beat hands the dead worker's message back once its heartbeat stops
    [doomed] = relay.workers
    routes = [route(f"r{n}", f"/r{n}") for n in range(6)]
    sha = origin.commit({"gateway/billing.yaml": adc_file(*routes)})
    # Each route's PUT takes effect at once but is answered two seconds later: the worker is mid-apply for a while.
    sandbox.fault(latency_ms=2000, method="PUT", path="/apisix/admin/routes/", when="after", rate=1)

    event_id = relay.deliver(push(sha))
    wait_for(lambda: effects(sandbox)["total"] >= 3, timeout=60, what="a few writes to take effect")
    doomed.kill()
    at_kill = effects(sandbox)["total"]
    start_worker(redis_url)

    record = _done(relay, event_id, timeout=120)
    assert 3 <= at_kill < 8  # killed mid-apply
    assert record.attempts >= 2  # the killed try, then one that finished (after a deferral, maybe more)
    assert _ids(sandbox, "routes") == {route_id(f"r{n}") for n in range(6)}
    done = effects(sandbox)
    assert done["duplicates"] == {}, done
    assert done["total"] == 8  # the service, six routes, the consumer: once each
