"""The reconcile against the sandbox over real HTTP, both generations: API7's defaults, paging, error envelopes and
write-only values as the sandbox serves them, not as the unit tests' fake does."""

from __future__ import annotations

import pytest
import redis
from pydantic import SecretStr

from tests.support import Sandbox
from tests.worker.gitops.support import CI_BOT_KEY, EXAMPLE, FakeRepo, pem_pair, spec, ssl_file
from worker.config import TargetConfig
from worker.errors import GitOpsError, PermanentError
from worker.gitops.ids import sha1
from worker.gitops.reconcile import Reconciler
from worker.targets import TargetClient
from worker.targets.tokens import Credential

SERVICE, ROUTE = sha1("billing"), sha1("billing.list-invoices")
V2 = EXAMPLE.replace("methods: [GET]", "methods: [GET, HEAD]").replace("        plugins: {key-auth: {}}\n", "")
CERT, KEY_ONE = pem_pair()
_, KEY_TWO = pem_pair("other")
SSL = ssl_file(CERT, KEY_ONE)


class _Tokens:
    def __init__(self, token: str) -> None:
        self.token = token

    def current(self, name: str) -> Credential:
        return Credential(SecretStr(self.token))


def _reconciler(sandbox: Sandbox, repo: FakeRepo, client: redis.Redis, version: str | None = None) -> Reconciler:
    config = TargetConfig(kind="api7", base_url=sandbox.url, api7_version=version)
    target = TargetClient("gw", config, _Tokens(sandbox.token))
    return Reconciler(client, target, repo, {"CI_BOT_KEY": CI_BOT_KEY})


def test_a_runtime_group_ends_equal_to_the_files_and_a_second_plan_is_empty(
    runtime_sandbox: Sandbox, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE, "gateway/b.yaml": SSL})
    outcome = _reconciler(runtime_sandbox, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    assert outcome.outcome == "applied"
    state = runtime_sandbox.group_state()["resources"]
    assert state["routes"][ROUTE]["paths"] == ["/invoices"]
    assert state["routes"][ROUTE]["service_id"] == SERVICE
    assert state["services"][SERVICE]["labels"] == {
        "team": "payments",
        "managed-by": "relay",
        "relay-repo": "gateway-config",
    }
    assert state["global_rules"]["prometheus"]["plugins"]["prometheus"] == {"prefer_name": True}
    # The sandbox added its defaults (key-auth's header, route status, upstream pass_host...): no endless updates.
    assert _reconciler(runtime_sandbox, repo, fake_redis).plan(spec("c1")).plan.changes == []


def test_renames_and_drops_update_create_and_prune_exactly_those(
    runtime_sandbox: Sandbox, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    second = EXAMPLE.replace("name: list-invoices", "name: invoices").replace(
        'consumers:\n  - username: ci-bot\n    plugins: {key-auth: {key: "${CI_BOT_KEY}"}}\n', ""
    )
    repo.commit("c2", {"gateway/a.yaml": second})
    _reconciler(runtime_sandbox, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    runtime_sandbox.seed("routes", "hand-made", {"name": "hand", "paths": ["/h"], "service_id": SERVICE})
    runtime_sandbox.seed("consumers", "adc_user", {"username": "adc_user"}, made_by="adc")
    planned = _reconciler(runtime_sandbox, repo, fake_redis).plan(spec("c2", prune=True))
    assert sorted((c.op, c.resource.type, c.resource.name) for c in planned.plan.changes) == [
        ("create", "route", "billing/invoices"), ("delete", "consumer", "ci-bot"), ("delete", "route", "billing/list-invoices"),
    ]  # fmt: skip
    _reconciler(runtime_sandbox, repo, fake_redis).reconcile(spec("c2", prune=True), "s2", "e2")
    state = runtime_sandbox.group_state()["resources"]
    assert set(state["routes"]) == {sha1("billing.invoices"), "hand-made"}
    assert set(state["consumers"]) == {"adc_user"}


def test_rotating_only_the_ssl_key_is_written(runtime_sandbox: Sandbox, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/b.yaml": SSL})
    repo.commit("c2", {"gateway/b.yaml": ssl_file(CERT, KEY_TWO)})
    _reconciler(runtime_sandbox, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    before = runtime_sandbox.group_state()["resources"]["ssls"][sha1("a.example.com")]["key"]
    assert before.startswith("sha256:")
    _reconciler(runtime_sandbox, repo, fake_redis).reconcile(spec("c2"), "s2", "e2")
    after = runtime_sandbox.group_state()["resources"]["ssls"][sha1("a.example.com")]["key"]
    assert after != before


def test_api7_32_publishes_the_services_and_plans_nothing_after(sandbox: Sandbox, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE.replace("    strip_path_prefix: true\n", "")})
    reconciler = _reconciler(sandbox, repo, fake_redis)
    assert reconciler.plan(spec("c1")).backend.name == "api7-3.2"
    reconciler.reconcile(spec("c1"), "s1", "e1")
    state = sandbox.group_state()
    assert set(state["published"]) == {SERVICE}
    assert [route["name"] for route in state["published"][SERVICE]["routes"]] == ["list-invoices"]
    assert _reconciler(sandbox, repo, fake_redis).plan(spec("c1")).plan.changes == []


def test_an_api7_error_envelope_stops_the_run_with_its_message(
    runtime_sandbox: Sandbox, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE.replace("uris: [/invoices]", "uris: [invoices]")})
    with pytest.raises(PermanentError) as caught:
        _reconciler(runtime_sandbox, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    message = str(caught.value)
    assert "PUT /apisix/admin/routes/" in message
    assert "answered 400" in message
    assert "applied 1 write(s)" in message  # the service, before its route
    assert runtime_sandbox.token not in message


def test_no_gateway_group_of_that_exact_name_writes_nothing(runtime_sandbox: Sandbox, fake_redis: redis.Redis) -> None:
    runtime_sandbox.add_group("gg-2", "default-2")
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    with pytest.raises(GitOpsError, match="no gateway group is named 'defaul'"):
        _reconciler(runtime_sandbox, repo, fake_redis).reconcile(spec("c1", group="defaul"), "s1", "e1")
    assert runtime_sandbox.group_state()["resources"].get("services", {}) == {}
