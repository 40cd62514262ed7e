"""``relay gitops status`` and ``relay gitops plan`` on a real Redis, against the fake API7."""

from __future__ import annotations

import json

import pytest
import redis
from click.testing import CliRunner

from tests.worker.gitops.support import CI_BOT_KEY, EXAMPLE, FakeRepo, Gateway, reconciler, spec, sync_runtime
from worker.cli import main

RULE = {
    "name": "gitops",
    "do": [{"sync": "gw", "repo": "gateway-config", "revision": "{{ payload.after }}", "paths": ["gateway/*.yaml"],
            "env": {"allow": ["CI_BOT_KEY"]}}],
}  # fmt: skip


@pytest.fixture
def world(
    redis_client: redis.Redis, redis_url: str, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> tuple[Gateway, FakeRepo]:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    monkeypatch.setenv("CI_BOT_KEY", CI_BOT_KEY)
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    runtime = sync_runtime(redis_client, gateway, repo, [RULE])
    monkeypatch.setattr("worker.runtime.get_runtime", lambda: runtime)
    return gateway, repo


def test_status_shows_each_group_with_its_revisions(world: tuple[Gateway, FakeRepo], redis_client: redis.Redis) -> None:
    gateway, repo = world
    reconciler(gateway, repo, redis_client).reconcile(spec("c1"), "s1", "e1")
    result = CliRunner().invoke(main, ["gitops", "status"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("gw "))
    assert row.split()[:6] == ["gw", "default", "gateway-config", "c1", "c1", "applied"]
    shown = json.loads(CliRunner().invoke(main, ["gitops", "status", "--json"]).output)
    (group,) = shown["groups"]
    assert (group["last_applied"], group["summary"]) == ("c1", {"create": 4, "update": 0, "delete": 0})


def test_plan_shows_the_changes_and_writes_nothing(world: tuple[Gateway, FakeRepo]) -> None:
    gateway, _ = world
    args = ["gitops", "plan", "--repo", "gateway-config", "--revision", "c1", "--target", "gw", "--group", "default"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "c1 -> gw group 'default' (api7-3.5): 4 create, 0 update, 0 delete" in result.output
    assert CI_BOT_KEY not in result.output
    shown = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert [change["type"] for change in shown["changes"]] == ["service", "route", "consumer", "global_rule"]
    assert CI_BOT_KEY not in json.dumps(shown)
    assert gateway.writes(effect=None) == []


def test_plan_of_an_unknown_target_is_one_line(world: tuple[Gateway, FakeRepo]) -> None:
    args = ["gitops", "plan", "--repo", "r", "--revision", "c1", "--target", "nope"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.strip().endswith("no target named 'nope'")
