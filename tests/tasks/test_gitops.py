"""Beat's drift job: a read-only plan against the last applied revision; self_heal re-applies it."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tasks import pipeline
from tasks.gitops import run_drift
from tests.tasks import support
from tests.tasks.test_sync import SYNC
from tests.worker.gitops.support import CI_BOT_KEY, EXAMPLE, FakeApi7, FakeRepo
from worker.celery_app import beat_schedule
from worker.gitops.ids import sha1
from worker.gitops.revisions import Revisions
from worker.runtime import Runtime

ROUTE = f"/apisix/admin/routes/{sha1('billing.list-invoices')}"


def _applied(client: redis.Redis, monkeypatch: pytest.MonkeyPatch, **action: Any) -> tuple[Runtime, FakeApi7]:
    monkeypatch.setenv("CI_BOT_KEY", CI_BOT_KEY)
    fake, repo = FakeApi7(token=support.TOKEN), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    rule = {"name": "gitops", "on": {"source": "coding"}, "do": [{**SYNC, **action}]}
    runtime = support.make_runtime(
        client, support.settings_with([rule], gitops={"drift_interval_seconds": 60}), fake.handler
    )
    runtime.commits = repo
    pipeline.process(runtime, support.store_event(runtime, "coding", "push", {"after": "c1"}))
    return runtime, fake


def test_an_unchanged_group_is_in_sync(fake_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, _ = _applied(fake_redis, monkeypatch)
    assert run_drift(runtime) == {"gw/default": "in_sync"}
    assert Revisions(fake_redis, "gw", "default").state().drift["changes"] == 0  # type: ignore[index]


def test_a_hand_edit_is_drift_and_nothing_is_written(fake_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, fake = _applied(fake_redis, monkeypatch)
    fake.store[ROUTE]["methods"] = ["DELETE"]
    writes = len(fake.writes)
    assert run_drift(runtime) == {"gw/default": "drifted"}
    drift = Revisions(fake_redis, "gw", "default").state().drift
    assert drift is not None
    assert (drift["revision"], drift["changes"], drift["resources"]) == (
        "c1",
        1,
        ["update route billing/list-invoices"],
    )
    assert len(fake.writes) == writes


def test_self_heal_reapplies_the_last_applied_revision(
    fake_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, fake = _applied(fake_redis, monkeypatch, self_heal=True)
    fake.store[ROUTE]["methods"] = ["DELETE"]
    assert run_drift(runtime) == {"gw/default": "drifted; self-healed: applied"}
    assert fake.store[ROUTE]["methods"] == ["GET"]
    assert run_drift(runtime) == {"gw/default": "in_sync"}


def test_drift_checks_are_scheduled_only_when_configured() -> None:
    assert "check-drift" not in beat_schedule(support.settings_with([]))
    schedule = beat_schedule(support.settings_with([], gitops={"drift_interval_seconds": 120}))
    assert schedule["check-drift"] == {"task": "relay.check_drift", "schedule": 120}
