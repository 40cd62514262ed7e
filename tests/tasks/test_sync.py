"""The sync action through the pipeline: a push becomes gateway writes, the dry run equals the live writes, a bad
file fails the event with its file and line and writes nothing, and no secret reaches Redis in clear."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis
from pydantic import ValidationError

from tasks import pipeline
from tasks.actions import RUNNERS, plan_rule
from tasks.rules import event_context
from tests.tasks import support
from tests.worker.gitops.support import CI_BOT_KEY, EXAMPLE, FakeRepo, Gateway, pem_pair, ssl_file, sync_runtime
from worker.config import Rule, Settings
from worker.gitops.revisions import Revisions
from worker.ops import stats
from worker.ops.story import timeline
from worker.runtime import Runtime
from worker.store import history
from worker.store.events import EventStatus

SYNC = {
    "sync": "gw",
    "repo": "gateway-config",
    "revision": "{{ payload.after }}",
    "paths": ["gateway/*.yaml"],
    "gateway_group": "default",
    "env": {"allow": ["CI_BOT_KEY"]},
}
GH_REPO = "https://github.example.com/acme/gw.git"
RULE = {"name": "gitops", "on": {"source": "coding", "event": "push"}, "do": [SYNC]}


def _runtime(client: redis.Redis, gateway: Gateway, repo: FakeRepo, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("CI_BOT_KEY", CI_BOT_KEY)
    return sync_runtime(client, gateway, repo, [RULE])


def _push(runtime: Runtime, sha: str) -> str:
    return support.store_event(runtime, "coding", "push", {"ref": "refs/heads/main", "after": sha})


def test_a_push_leaves_the_group_holding_the_files_resources(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE, "other/ignored.yaml": "services: [oops]"})
    runtime = _runtime(fake_redis, gateway, repo, monkeypatch)
    event = _push(runtime, "c1")
    assert pipeline.process(runtime, event).status == EventStatus.DONE
    (result,) = runtime.events.get(event).actions
    assert result.ok
    assert (result.kind, result.detail["outcome"], result.detail["revision"]) == ("sync", "applied", "c1")
    assert len(result.detail["writes"]) == 4
    assert gateway.resources()["consumers"]["ci-bot"]["plugins"]["key-auth"]["key"].startswith("sha256:")


def test_the_dry_run_shows_exactly_the_requests_the_live_run_sends(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    runtime = _runtime(fake_redis, gateway, repo, monkeypatch)
    monkeypatch.setattr("tasks.actions.sync.get_runtime", lambda: runtime)
    record = support.record_for("coding", "push", {"after": "c1"})
    (planned,) = plan_rule(Rule.model_validate(RULE), event_context(record))
    preview = RUNNERS["sync"].preview(runtime.settings, planned.action, planned.request, "k", {})
    assert gateway.writes(effect=None) == []  # the dry run wrote nothing
    assert CI_BOT_KEY not in repr(preview)
    pipeline.process(runtime, _push(runtime, "c1"))
    assert [(r["method"], r["path"]) for r in preview["requests"]] == gateway.writes()
    lines = RUNNERS["sync"].report_lines(preview)
    assert "4 create, 0 update, 0 delete" in lines[0]


def test_a_bad_file_fails_the_event_with_file_and_line_and_writes_nothing(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE.replace("        uris: [/invoices]\n", "")})
    runtime = _runtime(fake_redis, gateway, repo, monkeypatch)
    event = _push(runtime, "c1")
    assert pipeline.process(runtime, event).status == EventStatus.FAILED
    record = runtime.events.get(event)
    assert "gateway/a.yaml:13: services[0] (billing).routes[0] (list-invoices).uris: Field required" in (
        record.error or ""
    )
    assert gateway.writes(effect=None) == []


def test_no_secret_reaches_redis_in_clear(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FakeRepo()
    cert, private_key = pem_pair()
    ssl = ssl_file(cert, private_key)
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE, "gateway/b.yaml": ssl})
    repo.commit(
        "c2", {"gateway/a.yaml": EXAMPLE.replace("${CI_BOT_KEY}", "${CI_BOT_KEY}-rotated"), "gateway/b.yaml": ssl}
    )
    runtime = _runtime(fake_redis, gateway, repo, monkeypatch)
    pipeline.process(runtime, _push(runtime, "c1"))
    pipeline.process(runtime, _push(runtime, "c2"))
    dump = ""
    for key in fake_redis.scan_iter():
        kind = fake_redis.type(key)
        if kind == b"hash":
            dump += repr(fake_redis.hgetall(key))
        elif kind == b"string":
            dump += repr(fake_redis.get(key))
        elif kind == b"list":
            dump += repr(fake_redis.lrange(key, 0, -1))
    assert "relay:gitops:inventory:gw:default" in {key.decode() for key in fake_redis.scan_iter()}
    assert CI_BOT_KEY not in dump
    assert private_key.splitlines()[1] not in dump


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"sink": "gw"}, "an action needs one of 'call' (a target), 'notify' (a channel) or 'sync' (a target)"),
        ({**SYNC, "paths": ["../secrets/*.yaml"]}, "must not hold '.' or '..' parts"),
        ({**SYNC, "env": {"allow_prefix": ["RELAY_"]}}, "Relay's own RELAY_* settings"),
        ({**SYNC, "env": {"allow_prefix": ["REL"]}}, "Relay's own RELAY_* settings"),
        ({**SYNC, "gateway_group": "a:b"}, "no ':'"),
        ({**SYNC, "prune": "yes please"}, "valid boolean"),
    ],
)
def test_a_bad_sync_action_is_one_precise_line(action: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Rule.model_validate({"name": "r", "do": [action]})
    errors = caught.value.errors()
    assert len(errors) == 1
    assert expected in str(errors[0]["msg"])


def test_the_sync_target_must_exist() -> None:
    with pytest.raises(ValidationError, match="syncs unknown target 'nope'"):
        Settings(**support.config_with([{"name": "r", "do": [{**SYNC, "sync": "nope"}]}]))


def test_reconciles_and_changed_resources_are_counted(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    runtime = _runtime(fake_redis, gateway, repo, monkeypatch)
    pipeline.process(runtime, _push(runtime, "c1"))
    pipeline.process(runtime, _push(runtime, "c1"))
    metrics = {metric.name: metric for metric in stats.read_families(fake_redis)}
    reconciles = {tuple(s.labels.values()): s.value for s in metrics["relay_gitops_reconciles"].samples}
    assert reconciles[("gw", "default", "applied")] == 1
    assert reconciles[("gw", "default", "unchanged")] == 1
    changed = {tuple(s.labels.values()): s.value for s in metrics["relay_gitops_resources_changed"].samples}
    assert changed == {("gw", "default", "create"): 4}


def test_a_push_that_finds_the_group_busy_retries_and_then_does_nothing_twice(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE.replace("methods: [GET]", "methods: [PUT]")})
    runtime = _runtime(fake_redis, gateway, repo, monkeypatch)
    held = Revisions(fake_redis, "gw", "default").lock(60)
    assert held.acquire()
    event = _push(runtime, "c2")
    outcome = pipeline.process(runtime, event)
    assert outcome.status == EventStatus.RETRYING
    assert "deferred: another reconcile of this group runs" in (runtime.events.get(event).error or "")
    held.release()
    # The running reconcile (c1) takes c2 at its end; the retried c2 event then finds nothing to do.
    pipeline.process(runtime, _push(runtime, "c1"))
    writes = len(gateway.writes())
    assert pipeline.process(runtime, event).status == EventStatus.DONE
    assert len(gateway.writes()) == writes
    assert runtime.events.get(event).actions[0].detail["outcome"] == "unchanged"


def test_the_event_story_shows_each_write(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    runtime = _runtime(fake_redis, gateway, repo, monkeypatch)
    event = _push(runtime, "c1")
    pipeline.process(runtime, event)
    steps = timeline(runtime.events.get(event), history.read(fake_redis, event))
    writes = [step.text.strip() for step in steps if step.kind == "write"]
    assert len(writes) == 4
    assert writes[0].startswith("PUT /apisix/admin/services/")
    assert writes[0].endswith("(create service billing)")
    notified = {m.name for m in stats.read_families(fake_redis) if m.name == "relay_notifications" and m.samples}
    assert notified == set()  # a sync is not a notification


def test_the_sync_target_must_be_an_api7_target() -> None:
    with pytest.raises(ValidationError, match="syncs target 'coding', which is no api7 target"):
        Settings(**support.config_with([{"name": "r", "do": [{**SYNC, "sync": "coding"}]}]))


def test_the_commit_gets_pending_then_success_or_failure_with_a_link_to_the_story(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = "a" * 40, "b" * 40
    repo = FakeRepo()
    repo.commit(good, {"gateway/a.yaml": EXAMPLE})
    repo.commit(bad, {"gateway/a.yaml": "services:\n  - name: x\n    routes: [{name: r}]\n"})
    url = gateway.sandbox.url
    forge_token = httpx.post(f"{url}/_sandbox/forges/tokens", json={"forge": "github"}, timeout=5).json()["token"]
    monkeypatch.setenv("CI_BOT_KEY", CI_BOT_KEY)
    runtime = sync_runtime(
        fake_redis,
        gateway,
        repo,
        [RULE],
        receiver={"public_url": "https://relay.example.com/"},
        targets_extra={"gh": {"kind": "github", "base_url": url, "token_secret": forge_token}},
        repos={"gateway-config": {"url": GH_REPO, "token": "gh", "forge": "github", "api_url": url}},
    )
    applied, refused = _push(runtime, good), _push(runtime, bad)
    assert pipeline.process(runtime, applied).status == EventStatus.DONE
    assert pipeline.process(runtime, refused).status == EventStatus.FAILED

    seen = httpx.get(f"{url}/_sandbox/forges/statuses", timeout=5).json()
    assert [(s["sha"], s["state"]) for s in seen] == [
        (good, "pending"), (good, "success"), (bad, "pending"), (bad, "failure")
    ]  # fmt: skip
    assert seen[1]["description"] == "gateway group default: applied (4 create, 0 update, 0 delete)"
    assert "gateway/a.yaml" in seen[3]["description"]
    assert len(seen[3]["description"]) <= 140
    assert {s["target_url"] for s in seen} == {
        f"https://relay.example.com/status/events/{applied}",
        f"https://relay.example.com/status/events/{refused}",
    }
    assert {s["context"] for s in seen} == {"relay/default"}
