"""Backends against the sandbox: the version found with GET /api/version, API7 3.2's templates, publish and
unpublish, what 3.2 cannot take refused by name, the group matched by its exact name."""

from __future__ import annotations

import pytest
import redis

from tests.support import Sandbox
from tests.worker.gitops.support import EXAMPLE, FakeRepo, Gateway, indent_block, pem_pair, reconciler, spec, ssl_file
from worker.errors import GitOpsError, RetryableError
from worker.gitops.backends import open_backend
from worker.gitops.backends.api7_35 import resource_path
from worker.gitops.ids import sha1
from worker.gitops.resources import GatewayResource

V32 = EXAMPLE.replace("    strip_path_prefix: true\n", "")
SERVICE = sha1("billing")


def test_the_version_is_found_with_get_api_version(gateway: Gateway, gateway_32: Gateway) -> None:
    assert open_backend(gateway.client(), "default").name == "api7-3.5"
    assert open_backend(gateway_32.client(), "default").name == "api7-3.2"  # GET /api/version answers 404


def test_the_configured_version_wins_over_detection(gateway_32: Gateway) -> None:
    assert open_backend(gateway_32.client(), "default", "3.2").name == "api7-3.2"
    assert not any(r["path"] == "/api/version" for r in gateway_32.sandbox.requests())


def test_no_group_of_that_exact_name_is_an_error(gateway: Gateway, runtime_sandbox: Sandbox) -> None:
    runtime_sandbox.add_group("gg-2", "default-2")
    with pytest.raises(GitOpsError, match="no gateway group is named 'defaul'"):
        open_backend(gateway.client(), "defaul")
    assert open_backend(gateway.client(), "default-2").group_id == "gg-2"


def test_api7_32_writes_templates_then_publishes_and_plans_nothing_after(
    gateway_32: Gateway, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": V32})
    reconciler(gateway_32, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    assert gateway_32.writes()[:3] == [
        ("PUT", f"/apisix/admin/services/{SERVICE}"),
        ("PUT", f"/apisix/admin/routes/{sha1('billing.list-invoices')}"),
        ("POST", "/api/services/publish"),
    ]
    published = gateway_32.sandbox.group_state()["published"][SERVICE]
    assert published["version"].startswith("relay-c1-")
    assert [route["name"] for route in published["routes"]] == ["list-invoices"]
    assert reconciler(gateway_32, repo, fake_redis).plan(spec("c1")).plan.changes == []


def test_api7_32_a_route_changed_alone_republishes_its_service_as_the_group_has_it(
    gateway_32: Gateway, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": V32})
    repo.commit("c2", {"gateway/a.yaml": V32.replace("methods: [GET]", "methods: [GET, HEAD]")})
    reconciler(gateway_32, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    before = len(gateway_32.writes())

    reconciler(gateway_32, repo, fake_redis).reconcile(spec("c2"), "s2", "e2")

    route = f"/apisix/admin/routes/{sha1('billing.list-invoices')}"
    assert gateway_32.writes()[before:] == [("PUT", route), ("POST", "/api/services/publish")]
    published = gateway_32.sandbox.group_state()["published"][SERVICE]
    assert (published["name"], published["version"][:9]) == ("billing", "relay-c2-")
    assert published["upstream"]["nodes"][0]["host"] == "billing.internal"  # the service's body, as published
    assert published["routes"][0]["methods"] == ["GET", "HEAD"]


def test_api7_32_unpublishes_a_pruned_service(gateway_32: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": V32})
    repo.commit("c2", {"gateway/a.yaml": "global_rules:\n  prometheus: {prefer_name: true}\n"})
    reconciler(gateway_32, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    before = len(gateway_32.writes())
    reconciler(gateway_32, repo, fake_redis).reconcile(spec("c2", prune=True), "s2", "e2")
    writes = gateway_32.writes()[before:]
    assert ("DELETE", f"/api/gateway_groups/default/services/{SERVICE}") in writes
    assert SERVICE not in gateway_32.sandbox.group_state()["published"]
    # The route's template is deleted after its service's unpublish, not before it (a later publish of the service
    # would take it live again); the service's template stays, as other groups may publish it.
    route = ("DELETE", f"/apisix/admin/routes/{sha1('billing.list-invoices')}")
    assert writes.index(("DELETE", f"/api/gateway_groups/default/services/{SERVICE}")) < writes.index(route)
    assert reconciler(gateway_32, repo, fake_redis).plan(spec("c2", prune=True)).plan.changes == []


def test_api7_32_route_templates_left_by_a_failed_publish_are_pruned_before_the_next_publish(
    gateway_32: Gateway, fake_redis: redis.Redis
) -> None:
    # c1's templates are written but its publish fails; c2 renames the route. A 3.2 publish takes every route
    # template of its service, so the one c1 left must be deleted first, or it goes live with c2's publish.
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": V32})
    repo.commit("c2", {"gateway/a.yaml": V32.replace("name: list-invoices", "name: show-invoices")})
    gateway_32.sandbox.fault(status=503, method="POST", path="/api/services/publish", count=1)
    with pytest.raises(RetryableError):
        reconciler(gateway_32, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    assert SERVICE not in gateway_32.sandbox.group_state()["published"]

    reconciler(gateway_32, repo, fake_redis).reconcile(spec("c2", prune=True), "s2", "e2")

    published = gateway_32.sandbox.group_state()["published"][SERVICE]
    assert [route["name"] for route in published["routes"]] == ["show-invoices"]
    assert ("DELETE", f"/apisix/admin/routes/{sha1('billing.list-invoices')}") in gateway_32.writes()
    assert reconciler(gateway_32, repo, fake_redis).plan(spec("c2", prune=True)).plan.changes == []


def test_api7_32_refuses_what_it_cannot_apply_by_name(gateway_32: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    with pytest.raises(GitOpsError, match=r"API7 3\.2 cannot apply strip_path_prefix of service billing"):
        reconciler(gateway_32, repo, fake_redis).plan(spec("c1"))
    assert gateway_32.writes(effect=None) == []


@pytest.mark.parametrize(
    ("kind", "parent", "expected"),
    [
        ("service", None, "/apisix/admin/services/x"),
        ("route", "s", "/apisix/admin/routes/x"),
        ("stream_route", "s", "/apisix/admin/stream_routes/x"),
        ("upstream", "s", "/apisix/admin/services/s/upstreams/x"),  # ADC's operator.ts
        ("credential", "alice", "/apisix/admin/consumers/alice/credentials/x"),
        ("plugin_metadata", None, "/apisix/admin/plugin_metadata/x"),
        ("global_rule", None, "/apisix/admin/global_rules/x"),
    ],
)
def test_resource_paths_are_adcs(kind: str, parent: str | None, expected: str) -> None:
    assert resource_path(GatewayResource(kind, "x", "x", {}, parent)) == expected  # type: ignore[arg-type]


def test_api7_32_takes_ssls_with_one_or_several_certificates(gateway_32: Gateway, fake_redis: redis.Redis) -> None:
    cert, key = pem_pair()
    other_cert, other_key = pem_pair("b.example.com")
    several = ssl_file(cert, key).replace("snis: [a.example.com]", "snis: [b.example.com]") + (
        f"      - certificate: |\n{indent_block(other_cert)}\n        key: |\n{indent_block(other_key)}\n"
    )
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": ssl_file(cert, key), "gateway/b.yaml": several})
    reconciler(gateway_32, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    ssls = gateway_32.resources()["ssls"]
    assert {tuple(value["snis"]) for value in ssls.values()} == {("a.example.com",), ("b.example.com",)}
    assert reconciler(gateway_32, repo, fake_redis).plan(spec("c1")).plan.changes == []


NAMED = """\
services:
  - name: billing
    upstream:
      name: default
      nodes: [{host: billing.internal, port: 8080, weight: 100}]
    upstreams:
      - name: canary
        description: the next release
        labels: {track: canary}
        nodes: [{host: canary.internal, port: 8080, weight: 100}]
    routes:
      - name: list-invoices
        uris: [/invoices]
global_rules:
  prometheus: {prefer_name: true}
"""


def _named_upstreams(gateway: Gateway) -> dict[str, dict[str, object]]:
    """The group's named upstreams by ``<service id>/<id>``, without their server timestamps."""
    held = gateway.resources().get("service_upstreams", {})
    return {
        key: {k: v for k, v in value.items() if k not in ("created_at", "updated_at")} for key, value in held.items()
    }


def _upstream(name: str, host: str) -> dict[str, object]:
    """A named upstream as the sandbox stores what Relay writes (the gateway's defaults filled in)."""
    uid = sha1(f"billing.{name}")
    nodes = [{"host": host, "port": 8080, "weight": 100, "priority": 0}]
    body = {"id": uid, "name": name, "nodes": nodes, "type": "roundrobin", "scheme": "http", "pass_host": "pass"}
    labels = {"track": "canary", "managed-by": "relay", "relay-repo": "gateway-config"}
    return {f"{SERVICE}/{uid}": {**body, "desc": "the next release", "labels": labels}}


def test_api7_35_applies_renames_and_prunes_a_services_named_upstreams(
    gateway: Gateway, fake_redis: redis.Redis
) -> None:
    renamed = NAMED.replace("name: canary", "name: canary-2").replace("canary.internal", "canary-2.internal")
    without = NAMED.split("    upstreams:\n")[0] + "    routes:\n" + NAMED.split("    routes:\n")[1]
    repo = FakeRepo()
    for sha, text in (("c1", NAMED), ("c2", renamed), ("c3", without), ("c4", "global_rules:\n  prometheus: {}\n")):
        repo.commit(sha, {"gateway/a.yaml": text})
    canary = _upstream("canary", "canary.internal")
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    assert ("PUT", f"/apisix/admin/services/{SERVICE}/upstreams/{sha1('billing.canary')}") in gateway.writes()
    assert _named_upstreams(gateway) == canary
    assert reconciler(gateway, repo, fake_redis).plan(spec("c1")).plan.changes == []

    reconciler(gateway, repo, fake_redis).reconcile(spec("c2", prune=True), "s2", "e2")
    assert _named_upstreams(gateway) == _upstream("canary-2", "canary-2.internal")
    assert reconciler(gateway, repo, fake_redis).plan(spec("c2", prune=True)).plan.changes == []

    reconciler(gateway, repo, fake_redis).reconcile(spec("c3", prune=True), "s3", "e3")
    assert _named_upstreams(gateway) == {}
    assert reconciler(gateway, repo, fake_redis).plan(spec("c3", prune=True)).plan.changes == []
    # The service's inline upstream is listed among its upstreams, under its id: not a child that blocks its prune.
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c4", prune=True)).plan
    assert planned.kept == []
    assert {(c.op, c.resource.type) for c in planned.changes} >= {("delete", "service"), ("delete", "route")}
    reconciler(gateway, repo, fake_redis).reconcile(spec("c4", prune=True), "s4", "e4")
    held = {kind: sorted(values) for kind, values in gateway.resources().items() if values}
    assert held == {"global_rules": ["prometheus"]}


def _route_lists(gateway: Gateway) -> list[tuple[str, str | None, str | None]]:
    """The route and stream route lists the sandbox answered: (path, service_id, page), oldest first."""
    return [
        (r["path"], r["query"].get("service_id"), r["query"].get("page"))
        for r in gateway.sandbox.requests()
        if r["method"] == "GET" and r["path"] in ("/apisix/admin/routes", "/apisix/admin/stream_routes")
    ]


def test_api7_35_reads_each_services_routes_with_its_service_id_every_page(gateway: Gateway) -> None:
    upstream = {"nodes": [{"host": "h", "port": 80, "weight": 1}]}
    gateway.admin("PUT", "/apisix/admin/services/web", {"name": "web", "upstream": upstream})
    gateway.admin("PUT", "/apisix/admin/services/api", {"name": "api", "upstream": upstream})
    tcp = {"name": "tcp", "type": "stream", "upstream": {**upstream, "scheme": "tcp"}}
    gateway.admin("PUT", "/apisix/admin/services/tcp", tcp)
    for n in range(3):
        gateway.admin("PUT", f"/apisix/admin/routes/w{n}", {"name": f"w{n}", "paths": [f"/{n}"], "service_id": "web"})
    gateway.admin("PUT", "/apisix/admin/routes/a0", {"name": "a0", "paths": ["/a"], "service_id": "api"})
    gateway.admin("PUT", "/apisix/admin/stream_routes/pg", {"name": "pg", "server_port": 5432, "service_id": "tcp"})

    found = open_backend(gateway.client(), "default", page_size=2).read([])

    children = {key: resource.parent for key, resource in found.items() if resource.parent}
    expected = {f"route:web/w{n}": "web" for n in range(3)}
    assert children == {**expected, "route:api/a0": "api", "stream_route:tcp/pg": "tcp"}
    # As ADC's fetcher: one list per service, of the kind its type holds, never the group's whole list; every page.
    assert sorted(_route_lists(gateway)) == [
        ("/apisix/admin/routes", "api", "1"),
        ("/apisix/admin/routes", "web", "1"),
        ("/apisix/admin/routes", "web", "2"),
        ("/apisix/admin/stream_routes", "tcp", "1"),
    ]
