"""``relay gitops status`` and ``relay gitops plan`` on a real Redis, against the fake API7."""

from __future__ import annotations

import json

import httpx
import pytest
import redis
from click.testing import CliRunner

from tests.tasks import support
from tests.worker.gitops.support import CI_BOT_KEY, EXAMPLE, FakeApi7, FakeRepo, reconciler, spec
from worker.cli import main
from worker.runtime import Runtime
from worker.targets import ConfigTokens

RULE = {
    "name": "gitops",
    "do": [{"sync": "gw", "repo": "gateway-config", "revision": "{{ payload.after }}", "paths": ["gateway/*.yaml"],
            "env": {"allow": ["CI_BOT_KEY"]}}],
}  # fmt: skip


@pytest.fixture
def world(redis_client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeApi7, FakeRepo]:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    monkeypatch.setenv("CI_BOT_KEY", CI_BOT_KEY)
    fake, repo = FakeApi7(token=support.TOKEN), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE.replace("methods: [GET]", "methods: [GET, HEAD]")})
    settings = support.settings_with([RULE])
    runtime = Runtime(settings, redis_client, ConfigTokens(settings), transport=httpx.MockTransport(fake.handler))
    runtime.commits = repo
    monkeypatch.setattr("worker.runtime.get_runtime", lambda: runtime)
    return fake, repo


def test_status_shows_each_group_with_its_revisions(
    world: tuple[FakeApi7, FakeRepo], redis_client: redis.Redis
) -> None:
    fake, repo = world
    fake.token = "gitops-system-token-value"  # the support reconciler's own client
    reconciler(fake, repo, redis_client).reconcile(spec("c1"), "s1", "e1")
    result = CliRunner().invoke(main, ["gitops", "status"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("gw "))
    assert row.split()[:6] == ["gw", "default", "gateway-config", "c1", "c1", "applied"]
    shown = json.loads(CliRunner().invoke(main, ["gitops", "status", "--json"]).output)
    (group,) = shown["groups"]
    assert (group["last_applied"], group["summary"]) == ("c1", {"create": 4, "update": 0, "delete": 0})


def test_plan_shows_the_changes_and_writes_nothing(world: tuple[FakeApi7, FakeRepo]) -> None:
    fake, _ = world
    args = ["gitops", "plan", "--repo", "gateway-config", "--revision", "c1", "--target", "gw", "--group", "default"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "c1 -> gw group 'default' (api7-3.5): 4 create, 0 update, 0 delete" in result.output
    assert CI_BOT_KEY not in result.output
    shown = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert [change["type"] for change in shown["changes"]] == ["service", "route", "consumer", "global_rule"]
    assert CI_BOT_KEY not in json.dumps(shown)
    assert fake.writes == []


def test_plan_of_an_unknown_target_is_one_line(world: tuple[FakeApi7, FakeRepo]) -> None:
    args = ["gitops", "plan", "--repo", "r", "--revision", "c1", "--target", "nope"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.strip().endswith("no target named 'nope'")
