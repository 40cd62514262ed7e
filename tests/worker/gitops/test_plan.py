"""The plan against a fake API7 that adds server fields and defaults: no endless updates, write-only values through
digests, secrets never shown, and pruning that only ever deletes what this repository applied."""

from __future__ import annotations

import json

import pytest
import redis

from tests.worker.gitops.support import CI_BOT_KEY, EXAMPLE, FakeApi7, FakeRepo, reconciler, spec
from worker.errors import PlanRefused
from worker.gitops.ids import sha1

SERVICE = sha1("billing")
ROUTE = sha1("billing.list-invoices")
SECOND_ROUTE = """
      - name: pay
        uris: [/pay]
        methods: [POST]
"""


def _apply(fake: FakeApi7, repo: FakeRepo, client: redis.Redis, revision: str, **extra: object) -> None:
    reconciler(fake, repo, client).reconcile(spec(revision, **extra), f"evt:{revision}", f"evt-{revision}")


def test_the_first_plan_creates_parents_first_and_a_second_plan_is_empty(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    planned = reconciler(fake, repo, fake_redis).plan(spec("c1"))
    assert [(c.op, c.resource.type) for c in planned.plan.changes] == [
        ("create", "service"), ("create", "route"), ("create", "consumer"), ("create", "global_rule"),
    ]  # fmt: skip
    _apply(fake, repo, fake_redis, "c1")
    # The fake stored server fields, defaults (priority, pass_host, node priority) and plugin defaults (_meta).
    assert fake.store[f"/apisix/admin/routes/{ROUTE}"]["priority"] == 0
    again = reconciler(fake, repo, fake_redis).plan(spec("c1"))
    assert again.plan.changes == []
    assert again.phases == []


def test_a_plan_never_shows_a_write_only_or_filled_in_value(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    ssl = "ssls:\n  - snis: [a.example.com]\n    certificates: [{certificate: CERT, key: PRIVATE-KEY-PEM-TEXT}]\n"
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE, "gateway/b.yaml": ssl})
    shown = json.dumps(reconciler(fake, repo, fake_redis).plan(spec("c1")).to_json())
    assert CI_BOT_KEY not in shown
    assert "PRIVATE-KEY-PEM-TEXT" not in shown
    assert "<write-only>" in shown or "***" in shown


def test_rotating_only_a_key_is_seen_through_the_digest(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    ssl = "ssls:\n  - snis: [a.example.com]\n    certificates: [{certificate: CERT, key: KEY-ONE}]\n"
    repo.commit("c1", {"gateway/a.yaml": ssl})
    repo.commit("c2", {"gateway/a.yaml": ssl.replace("KEY-ONE", "KEY-TWO")})
    _apply(fake, repo, fake_redis, "c1")
    assert reconciler(fake, repo, fake_redis).plan(spec("c1")).plan.changes == []
    planned = reconciler(fake, repo, fake_redis).plan(spec("c2"))
    (change,) = planned.plan.changes
    assert (change.op, change.resource.type, change.reason) == ("update", "ssl", "write-only value changed")
    assert "KEY-TWO" not in json.dumps(planned.to_json())


def test_removing_a_plugin_key_is_an_update_although_server_defaults_are_ignored(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE.replace("{key-auth: {}}", "{key-auth: {header: X-Key}}")})
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE})
    _apply(fake, repo, fake_redis, "c1")
    (change,) = reconciler(fake, repo, fake_redis).plan(spec("c2")).plan.changes
    assert (change.op, change.resource.key) == ("update", f"route:{SERVICE}/{ROUTE}")
    # What differs from the gateway, plugin defaults included: the removed key is among it.
    assert "plugins.key-auth.header" in [f.path for f in change.fields]
    assert all(f.path.startswith("plugins.key-auth.") for f in change.fields)


def test_a_field_change_is_listed_field_by_field(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE.replace("methods: [GET]", "methods: [GET, HEAD]")})
    _apply(fake, repo, fake_redis, "c1")
    (change,) = reconciler(fake, repo, fake_redis).plan(spec("c2")).plan.changes
    assert [(f.path, f.old, f.new) for f in change.fields] == [("methods", ["GET"], ["GET", "HEAD"])]


def test_prune_is_opt_in_and_deletes_only_what_this_repository_applied(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit(
        "c1",
        {
            "gateway/a.yaml": EXAMPLE + ""
            if False
            else EXAMPLE.replace("plugins: {key-auth: {}}\n", "plugins: {key-auth: {}}\n" + SECOND_ROUTE)
        },
    )
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE})
    _apply(fake, repo, fake_redis, "c1")
    pay = f"/apisix/admin/routes/{sha1('billing.pay')}"
    # Made by hand, by ADC, and by another repository in the same service: never Relay's to delete.
    fake.put("/apisix/admin/routes/hand-made", {"name": "hand", "paths": ["/h"], "service_id": SERVICE})
    fake.put(
        "/apisix/admin/routes/adc-made",
        {"name": "adc", "paths": ["/a"], "service_id": SERVICE, "labels": {"managed-by": "adc"}},
    )
    kept = reconciler(fake, repo, fake_redis).plan(spec("c2"))
    assert kept.plan.changes == []
    assert any("prune is off" in line for line in kept.plan.kept)
    pruned = reconciler(fake, repo, fake_redis).plan(spec("c2", prune=True))
    assert [(c.op, c.resource.type, c.resource.name) for c in pruned.plan.changes] == [
        ("delete", "route", "billing/pay")
    ]
    _apply(fake, repo, fake_redis, "c2", prune=True)
    assert pay not in fake.store
    assert {"/apisix/admin/routes/hand-made", "/apisix/admin/routes/adc-made"} <= fake.paths()


def test_a_resource_relabelled_by_someone_else_is_not_pruned(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": "global_rules:\n  prometheus: {prefer_name: true}\n"})
    _apply(fake, repo, fake_redis, "c1")
    fake.store["/apisix/admin/consumers/ci-bot"]["labels"] = {"managed-by": "adc"}
    planned = reconciler(fake, repo, fake_redis).plan(spec("c2", prune=True))
    deleted = {c.resource.type for c in planned.plan.changes if c.op == "delete"}
    assert deleted == {"route", "service"}
    assert any("ci-bot" in line and "labels no longer say" in line for line in planned.plan.kept)


def test_a_service_holding_a_route_relay_does_not_own_is_not_pruned(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": "global_rules:\n  prometheus: {prefer_name: true}\n"})
    _apply(fake, repo, fake_redis, "c1")
    fake.put("/apisix/admin/routes/hand-made", {"name": "hand", "paths": ["/h"], "service_id": SERVICE})
    planned = reconciler(fake, repo, fake_redis).plan(spec("c2", prune=True))
    assert [(c.op, c.resource.type) for c in planned.plan.changes] == [("delete", "route"), ("delete", "consumer")]
    assert any("holds route" in line for line in planned.plan.kept)


def test_another_repositorys_resources_are_never_pruned(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": "global_rules:\n  cors: {}\n"})
    reconciler(fake, repo, fake_redis).reconcile(spec("c1", repo="team-a"), "s1", "e1")
    planned = reconciler(fake, repo, fake_redis).plan(spec("c2", repo="team-b", prune=True))
    assert [c.op for c in planned.plan.changes] == ["create"]


@pytest.mark.parametrize("text", ["", "services: []\n", "# only a comment\n"])
def test_an_empty_tree_is_refused_unless_allowed(fake_redis: redis.Redis, text: str) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": text})
    _apply(fake, repo, fake_redis, "c1")
    with pytest.raises(PlanRefused, match="allow_empty"):
        reconciler(fake, repo, fake_redis).plan(spec("c2", prune=True))
    planned = reconciler(fake, repo, fake_redis).plan(spec("c2", prune=True, allow_empty=True))
    assert {c.op for c in planned.plan.changes} == {"delete"}
    assert len(planned.plan.changes) == 4


def test_every_page_is_read_and_the_group_is_matched_by_exact_name(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(page_cap=2), FakeRepo()
    services = "services:\n" + "".join(
        f"  - name: s{i}\n    upstream: {{nodes: [{{host: h, port: 80, weight: 1}}]}}\n" for i in range(5)
    )
    repo.commit("c1", {"gateway/a.yaml": services})
    _apply(fake, repo, fake_redis, "c1")
    assert reconciler(fake, repo, fake_redis).plan(spec("c1")).plan.changes == []
    assert all(path.startswith("/apisix/") for _, path in fake.writes)
    # Every write named the group called exactly "default" (gg-1), not "default-2" listed first.
    assert reconciler(fake, repo, fake_redis).plan(spec("c1")).backend.group_id == "gg-1"
