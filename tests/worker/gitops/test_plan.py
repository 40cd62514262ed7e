"""The plan against the sandbox's API7 (its server fields and defaults): no endless updates, write-only values through
digests, secrets never shown, and pruning that only ever deletes what this repository applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from tests.worker.gitops.support import CI_BOT_KEY, EXAMPLE, FakeRepo, Gateway, pem_pair, reconciler, spec, ssl_file
from worker.errors import PlanRefused
from worker.gitops.ids import sha1
from worker.gitops.reconcile import digest_key

SERVICE = sha1("billing")
ROUTE = sha1("billing.list-invoices")
SECOND_ROUTE = "      - name: pay\n        uris: [/pay]\n        methods: [POST]\n"
ONLY_RULE = "global_rules:\n  prometheus: {prefer_name: true}\n"


def _apply(gateway: Gateway, repo: FakeRepo, client: redis.Redis, revision: str, **extra: object) -> None:
    reconciler(gateway, repo, client).reconcile(spec(revision, **extra), f"evt:{revision}", f"evt-{revision}")


def test_the_first_plan_creates_parents_first_and_a_second_plan_is_empty(
    gateway: Gateway, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c1"))
    assert [(c.op, c.resource.type) for c in planned.plan.changes] == [
        ("create", "service"), ("create", "route"), ("create", "consumer"), ("create", "global_rule"),
    ]  # fmt: skip
    _apply(gateway, repo, fake_redis, "c1")
    route = gateway.resources()["routes"][ROUTE]
    # The gateway filled its defaults (status, priority, key-auth's header and query): none is an update.
    assert (route["priority"], route["plugins"]["key-auth"]["header"]) == (0, "apikey")
    again = reconciler(gateway, repo, fake_redis).plan(spec("c1"))
    assert again.plan.changes == []
    assert again.phases == []


def test_a_plan_never_shows_a_write_only_or_filled_in_value(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    cert, key = pem_pair()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE, "gateway/b.yaml": ssl_file(cert, key)})
    shown = json.dumps(reconciler(gateway, repo, fake_redis).plan(spec("c1")).to_json())
    assert CI_BOT_KEY not in shown
    assert key.splitlines()[1] not in shown
    assert "***" in shown


def test_rotating_only_a_key_is_seen_through_the_digest(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    cert, key = pem_pair()
    _, other = pem_pair("other")
    repo.commit("c1", {"gateway/a.yaml": ssl_file(cert, key)})
    repo.commit("c2", {"gateway/a.yaml": ssl_file(cert, other)})
    _apply(gateway, repo, fake_redis, "c1")
    assert reconciler(gateway, repo, fake_redis).plan(spec("c1")).plan.changes == []
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c2"))
    (change,) = planned.plan.changes
    assert (change.op, change.resource.type, change.reason) == ("update", "ssl", "write-only value changed")
    assert other.splitlines()[1] not in json.dumps(planned.to_json())
    ssl_id = sha1("a.example.com")
    before = gateway.resources()["ssls"][ssl_id]["key"]
    _apply(gateway, repo, fake_redis, "c2")
    assert gateway.resources()["ssls"][ssl_id]["key"] != before  # the sandbox shows it only as a digest
    assert reconciler(gateway, repo, fake_redis).plan(spec("c2")).plan.changes == []


def test_removing_a_plugin_key_is_an_update_although_server_defaults_are_ignored(
    gateway: Gateway, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE.replace("{key-auth: {}}", "{key-auth: {header: X-Key}}")})
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE})
    _apply(gateway, repo, fake_redis, "c1")
    (change,) = reconciler(gateway, repo, fake_redis).plan(spec("c2")).plan.changes
    assert (change.op, change.resource.key, change.reason) == (
        "update", f"route:{SERVICE}/{ROUTE}", "removed from the file since applied",
    )  # fmt: skip
    assert "plugins.key-auth.header" in [f.path for f in change.fields]
    _apply(gateway, repo, fake_redis, "c2")
    assert gateway.resources()["routes"][ROUTE]["plugins"]["key-auth"]["header"] == "apikey"  # back to the default
    assert reconciler(gateway, repo, fake_redis).plan(spec("c2")).plan.changes == []


def test_a_field_change_is_listed_field_by_field(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE.replace("methods: [GET]", "methods: [GET, HEAD]")})
    _apply(gateway, repo, fake_redis, "c1")
    (change,) = reconciler(gateway, repo, fake_redis).plan(spec("c2")).plan.changes
    assert [(f.path, f.old, f.new) for f in change.fields] == [("methods", ["GET"], ["GET", "HEAD"])]


def test_prune_is_opt_in_and_deletes_only_what_this_repository_applied(
    gateway: Gateway, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit(
        "c1",
        {"gateway/a.yaml": EXAMPLE.replace("plugins: {key-auth: {}}\n", "plugins: {key-auth: {}}\n" + SECOND_ROUTE)},
    )
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE})
    _apply(gateway, repo, fake_redis, "c1")
    # Made by hand and by ADC, in the same service: never Relay's to delete.
    gateway.sandbox.seed("routes", "hand-made", {"name": "hand", "paths": ["/h"], "service_id": SERVICE})
    gateway.sandbox.seed("routes", "adc-made", {"name": "adc", "paths": ["/a"], "service_id": SERVICE}, made_by="adc")
    kept = reconciler(gateway, repo, fake_redis).plan(spec("c2"))
    assert kept.plan.changes == []
    assert any("prune is off" in line for line in kept.plan.kept)
    pruned = reconciler(gateway, repo, fake_redis).plan(spec("c2", prune=True))
    assert [(c.op, c.resource.type, c.resource.name) for c in pruned.plan.changes] == [
        ("delete", "route", "billing/pay")
    ]
    _apply(gateway, repo, fake_redis, "c2", prune=True)
    assert set(gateway.resources()["routes"]) == {ROUTE, "hand-made", "adc-made"}


def test_a_resource_relabelled_by_someone_else_is_not_pruned(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": ONLY_RULE})
    _apply(gateway, repo, fake_redis, "c1")
    gateway.admin("PUT", "/apisix/admin/consumers/ci-bot", {"username": "ci-bot", "labels": {"managed-by": "adc"}})
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c2", prune=True))
    assert {c.resource.type for c in planned.plan.changes if c.op == "delete"} == {"route", "service"}
    assert any("ci-bot" in line and "labels no longer say" in line for line in planned.plan.kept)


def test_a_service_holding_a_route_relay_does_not_own_is_not_pruned(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": ONLY_RULE})
    _apply(gateway, repo, fake_redis, "c1")
    gateway.sandbox.seed("routes", "hand-made", {"name": "hand", "paths": ["/h"], "service_id": SERVICE})
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c2", prune=True))
    assert [(c.op, c.resource.type) for c in planned.plan.changes] == [("delete", "route"), ("delete", "consumer")]
    assert any("holds route" in line for line in planned.plan.kept)


def test_another_repositorys_resources_are_never_pruned(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": "global_rules:\n  cors: {}\n"})
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1", repo="team-a"), "s1", "e1")
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c2", repo="team-b", prune=True))
    assert [c.op for c in planned.plan.changes] == ["create"]


@pytest.mark.parametrize("text", ["", "services: []\n", "# only a comment\n"])
def test_an_empty_tree_is_refused_unless_allowed(gateway: Gateway, fake_redis: redis.Redis, text: str) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    repo.commit("c2", {"gateway/a.yaml": text})
    _apply(gateway, repo, fake_redis, "c1")
    with pytest.raises(PlanRefused, match="allow_empty"):
        reconciler(gateway, repo, fake_redis).plan(spec("c2", prune=True))
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c2", prune=True, allow_empty=True))
    assert {c.op for c in planned.plan.changes} == {"delete"}
    assert len(planned.plan.changes) == 4


def test_every_page_is_read_and_the_group_is_matched_by_exact_name(gateway: Gateway, fake_redis: redis.Redis) -> None:
    gateway.sandbox.add_group("gg-2", "default-2")  # a fuzzy search for "default" finds both
    repo = FakeRepo()
    services = "services:\n" + "".join(
        f"  - name: s{i}\n    upstream: {{nodes: [{{host: h, port: 80, weight: 1}}]}}\n" for i in range(5)
    )
    repo.commit("c1", {"gateway/a.yaml": services})
    reconciler(gateway, repo, fake_redis, page_size=2).reconcile(spec("c1"), "s", "e")
    assert len(gateway.resources()["services"]) == 5
    assert gateway.resources("gg-2").get("services", {}) == {}
    again = reconciler(gateway, repo, fake_redis, page_size=2).plan(spec("c1"))
    assert again.plan.changes == []  # every page read: no service seen missing
    assert again.backend.group_id == "default"


ALL_KINDS = (Path(__file__).parent / "all_kinds.yaml").read_text(encoding="utf-8")


def test_every_kind_round_trips_and_a_second_plan_is_empty(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": ALL_KINDS, "gateway/b.yaml": ssl_file(*pem_pair())})
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c1"))
    kinds = [c.resource.type for c in planned.plan.changes]
    assert kinds == [
        "ssl", "service", "service", "upstream", "route", "stream_route", "consumer", "credential", "credential",
        "global_rule", "plugin_metadata",
    ]  # fmt: skip
    _apply(gateway, repo, fake_redis, "c1")
    assert reconciler(gateway, repo, fake_redis).plan(spec("c1")).plan.changes == []
    credentials = gateway.resources()["credentials"]
    assert {value["name"] for value in credentials.values()} == {"main", "basic"}
    assert "alice-key-0123456789" not in json.dumps(gateway.resources())


def test_rotating_a_credential_key_updates_only_that_credential(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": ALL_KINDS})
    repo.commit("c2", {"gateway/a.yaml": ALL_KINDS.replace("alice-key-0123456789", "alice-key-rotated-9876")})
    _apply(gateway, repo, fake_redis, "c1")
    (change,) = reconciler(gateway, repo, fake_redis).plan(spec("c2")).plan.changes
    assert (change.op, change.resource.type, change.resource.name) == ("update", "credential", "alice/main")
    assert change.reason == "write-only value changed"


def test_values_under_secret_names_are_never_shown_old_or_new(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    oidc = "{key-auth: {}, openid-connect: {client_id: relay, client_secret: %s}}"
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE.replace("{key-auth: {}}", oidc % "old-secret-value-1")})
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE.replace("{key-auth: {}}", oidc % "new-secret-value-2")})
    _apply(gateway, repo, fake_redis, "c1")
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c2"))
    (change,) = planned.plan.changes
    assert [f.path for f in change.fields] == ["plugins.openid-connect.client_secret"]
    shown = json.dumps(planned.to_json())
    assert "old-secret-value-1" not in shown
    assert "new-secret-value-2" not in shown


def test_digests_are_keyed_with_the_token_key_when_it_is_set() -> None:
    salt = b"s" * 32
    assert digest_key(salt, None) == salt
    keyed = digest_key(salt, "fernet-key-one")
    assert keyed not in (salt, digest_key(salt, "fernet-key-two"))
    assert len(keyed) == 32
