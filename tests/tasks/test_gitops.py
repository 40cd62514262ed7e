"""Beat's drift job against the sandbox: a read-only plan against the last applied revision; self_heal re-applies."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tasks import pipeline
from tasks.gitops import run_drift
from tests.tasks import support
from tests.tasks.test_sync import SYNC
from tests.worker.gitops.support import CI_BOT_KEY, EXAMPLE, FakeRepo, Gateway, sync_runtime
from worker.celery_app import beat_schedule
from worker.gitops.ids import sha1
from worker.gitops.revisions import Revisions
from worker.ops.health import system_health
from worker.runtime import Runtime

SERVICE, ROUTE = sha1("billing"), sha1("billing.list-invoices")
HAND_EDIT = {"name": "list-invoices", "paths": ["/invoices"], "methods": ["DELETE"], "service_id": SERVICE}


def _applied(client: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, **action: Any) -> Runtime:
    monkeypatch.setenv("CI_BOT_KEY", CI_BOT_KEY)
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    rule = {"name": "gitops", "on": {"source": "coding"}, "do": [{**SYNC, **action}]}
    runtime = sync_runtime(client, gateway, repo, [rule], gitops={"drift_interval_seconds": 60})
    pipeline.process(runtime, support.store_event(runtime, "coding", "push", {"after": "c1"}))
    return runtime


def test_an_unchanged_group_is_in_sync(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _applied(fake_redis, gateway, monkeypatch)
    assert run_drift(runtime) == {"gw/default": "in_sync"}
    part = {p.name: p for p in system_health(fake_redis, runtime.settings).parts}["gitops"]
    assert (part.level, part.state) == ("ok", "1 in sync")
    drift = Revisions(fake_redis, "gw", "default").state().drift
    assert drift is not None
    assert drift["changes"] == 0


def test_a_hand_edit_is_drift_and_nothing_is_written(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _applied(fake_redis, gateway, monkeypatch)
    gateway.admin("PUT", f"/apisix/admin/routes/{ROUTE}", HAND_EDIT)
    writes = len(gateway.writes())
    assert run_drift(runtime) == {"gw/default": "drifted"}
    drift = Revisions(fake_redis, "gw", "default").state().drift
    assert drift is not None
    assert (drift["revision"], drift["changes"], drift["resources"]) == (
        "c1",
        1,
        ["update route billing/list-invoices"],
    )
    assert len(gateway.writes()) == writes


def test_self_heal_reapplies_the_last_applied_revision(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _applied(fake_redis, gateway, monkeypatch, self_heal=True)
    gateway.admin("PUT", f"/apisix/admin/routes/{ROUTE}", HAND_EDIT)
    assert run_drift(runtime) == {"gw/default": "drifted; self-healed: applied"}
    assert gateway.resources()["routes"][ROUTE]["methods"] == ["GET"]
    assert run_drift(runtime) == {"gw/default": "in_sync"}


def test_drift_checks_are_scheduled_only_when_configured() -> None:
    assert "check-drift" not in beat_schedule(support.settings_with([]))
    schedule = beat_schedule(support.settings_with([], gitops={"drift_interval_seconds": 120}))
    assert schedule["check-drift"] == {"task": "relay.check_drift", "schedule": 120}
