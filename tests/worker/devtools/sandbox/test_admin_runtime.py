"""API7 3.5+'s runtime resources per gateway group: gateway_group_id, paging, PUT by id, deletes, references."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import FakeClock
from tests.worker.devtools.sandbox.support import (
    BOOTSTRAP,
    CERT,
    GG,
    KEY,
    ROUTE,
    RUNTIME_VERSION,
    SERVICE,
    START,
    add_group,
    group_state,
    make_client,
    put_ok,
)
from worker.devtools.sandbox.state import SandboxState, new_state

pytestmark = pytest.mark.anyio

A = "/apisix/admin"
BILLING = {**GG, "service_id": "billing"}
CANARY: dict[str, Any] = {"name": "canary", "nodes": [{"host": "canary.internal", "port": 8080, "weight": 1}]}
# Every runtime operation, with a body where it takes one: each must name its gateway group.
OPERATIONS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", f"{A}/services", None),
    ("GET", f"{A}/services/billing", None),
    ("PUT", f"{A}/services/billing", SERVICE),
    ("DELETE", f"{A}/services/billing", None),
    ("GET", f"{A}/routes", None),
    ("PUT", f"{A}/routes/r1", ROUTE),
    ("GET", f"{A}/services/billing/upstreams", None),
    ("PUT", f"{A}/services/billing/upstreams/u1", {"nodes": [{"host": "h", "port": 80, "weight": 1}]}),
    ("DELETE", f"{A}/services/billing/upstreams/u1", None),
    ("GET", f"{A}/stream_routes", None),
    ("GET", f"{A}/consumers", None),
    ("PUT", f"{A}/consumers/ci-bot", {"username": "ci-bot"}),
    ("GET", f"{A}/consumers/ci-bot/credentials", None),
    ("PUT", f"{A}/consumers/ci-bot/credentials/c1", {"plugins": {"key-auth": {"key": "k"}}}),
    ("GET", f"{A}/ssls", None),
    ("GET", f"{A}/global_rules", None),
    ("PUT", f"{A}/global_rules/prometheus", {"plugins": {"prometheus": {}}}),
    ("GET", f"{A}/plugin_metadata", None),
    ("PUT", f"{A}/plugin_metadata/http-logger", {"log_format": {"host": "$host"}}),
]


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
async def test_every_call_requires_a_known_gateway_group(
    rt: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    missing = await rt.request(method, path, json=body)
    assert missing.status_code == 400
    assert missing.json() == {"error_msg": "gateway_group_id is required"}
    unknown = await rt.request(method, path, params={"gateway_group_id": "nope"}, json=body)
    assert unknown.status_code == 404
    assert unknown.json() == {"error_msg": "gateway group not found: nope"}
    malformed = await rt.request(method, path, params={"gateway_group_id": "a b"}, json=body)
    assert malformed.status_code == 400
    assert not any((await group_state(rt))["resources"].values())


async def test_lists_page_from_one_and_count_everything(rt: httpx.AsyncClient, clock: FakeClock) -> None:
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    for n in range(7):
        clock.advance(1)
        await put_ok(rt, f"{A}/routes/r{n}", {**ROUTE, "name": f"route-{n}"})
    seen: list[str] = []
    for page in (1, 2, 3):
        answer = (await rt.get(f"{A}/routes", params={**BILLING, "page": page, "page_size": 3})).json()
        assert answer["total"] == 7
        assert len(answer["list"]) == (3 if page < 3 else 1)
        seen.extend(item["id"] for item in answer["list"])
    assert sorted(seen) == [f"r{n}" for n in range(7)]
    beyond = (await rt.get(f"{A}/routes", params={**BILLING, "page": 4, "page_size": 3})).json()
    assert beyond == {"total": 7, "list": []}
    bad = await rt.get(f"{A}/routes", params={**BILLING, "page": 0})
    assert bad.status_code == 400


async def test_search_is_fuzzy_and_labels_select(rt: httpx.AsyncClient) -> None:
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    await put_ok(rt, f"{A}/services/billing-v2", {**SERVICE, "name": "billing-v2", "labels": {"team": "ops"}})
    fuzzy = (await rt.get(f"{A}/services", params={**GG, "search": "billing"})).json()
    assert fuzzy["total"] == 2
    selected = (await rt.get(f"{A}/services", params={**GG, "labels[team]": "ops"})).json()
    assert [s["id"] for s in selected["list"]] == ["billing-v2"]


async def test_a_gateway_group_sees_only_its_own_resources(rt: httpx.AsyncClient) -> None:
    await add_group(rt, "staging", "staging")
    await put_ok(rt, f"{A}/services/billing", SERVICE, group="staging")
    assert (await rt.get(f"{A}/services", params=GG)).json() == {"total": 0, "list": []}
    assert (await rt.get(f"{A}/services/billing", params=GG)).status_code == 404
    other = (await rt.get(f"{A}/services", params={"gateway_group_id": "staging"})).json()
    assert other["total"] == 1


async def test_server_fields_are_added_and_created_at_survives_a_replace(
    rt: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await put_ok(rt, f"{A}/services/billing", {**SERVICE, "service_id": "billing"})
    assert (first["id"], first["service_id"]) == ("billing", "billing")
    assert first["created_at"] == first["updated_at"] == int(START)
    clock.advance(30)
    second = await put_ok(rt, f"{A}/services/billing", {**SERVICE, "desc": "changed"})
    assert second["created_at"] == int(START)
    assert second["updated_at"] == int(START) + 30
    assert second["desc"] == "changed"


async def test_put_twice_with_the_same_body_changes_nothing_but_updated_at(
    rt: httpx.AsyncClient, clock: FakeClock
) -> None:
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    once = await put_ok(rt, f"{A}/routes/r1", ROUTE)
    clock.advance(5)
    twice = await put_ok(rt, f"{A}/routes/r1", ROUTE)
    assert {**twice, "updated_at": 0} == {**once, "updated_at": 0}
    assert (await rt.get(f"{A}/routes", params=BILLING)).json()["total"] == 1


async def test_a_put_replaces_the_whole_body(rt: httpx.AsyncClient) -> None:
    await put_ok(rt, f"{A}/services/billing", {**SERVICE, "hosts": ["api.example.com"]})
    replaced = await put_ok(rt, f"{A}/services/billing", SERVICE)
    assert "hosts" not in replaced


async def test_a_body_naming_another_id_is_refused(rt: httpx.AsyncClient) -> None:
    for field in ("id", "service_id"):
        response = await rt.put(f"{A}/services/billing", params=GG, json={**SERVICE, field: "other"})
        assert response.status_code == 400
        assert field in response.json()["error_msg"]
    consumer = await rt.put(f"{A}/consumers/ci-bot", params=GG, json={"username": "someone-else"})
    assert consumer.status_code == 400
    assert (await group_state(rt))["resources"].get("services", {}) == {}


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        (f"{A}/routes/r1", {"name": "r", "paths": ["/x"]}, "service_id"),
        (f"{A}/routes/r1", {"name": "r", "service_id": "billing"}, "paths"),
        (f"{A}/routes/r1", {**ROUTE, "methods": ["FETCH"]}, "methods"),
        (f"{A}/services/s", {"desc": "no name"}, "name"),
        (f"{A}/services/s", {**SERVICE, "upstream": {"nodes": [{"host": "h", "port": 0, "weight": 1}]}}, "port"),
        (f"{A}/services/s", {**SERVICE, "upstream": {**SERVICE["upstream"], "type": "random"}}, "type"),
        (f"{A}/services/billing/upstreams/u", {"name": "no nodes"}, "nodes"),
        (f"{A}/ssls/s", {"cert": CERT, "snis": ["a.example.com"]}, "key"),
        (f"{A}/ssls/s", {"cert": CERT, "key": KEY}, "snis"),
        (f"{A}/ssls/s", {"cert": CERT, "key": KEY, "snis": ["a"], "certs": [CERT], "keys": []}, "keys"),
        (f"{A}/global_rules/g", {"plugins": {}}, "plugins"),
        (f"{A}/consumers/bad name", {"username": "bad name"}, "invalid id"),
    ],
)
async def test_bad_bodies_are_refused_naming_the_field(
    rt: httpx.AsyncClient, path: str, body: dict[str, Any], named: str
) -> None:
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    response = await rt.put(path, params=GG, json=body)
    assert response.status_code == 400
    assert named in response.json()["error_msg"]
    assert (await rt.get(path, params=GG)).status_code in (400, 404)


async def test_a_route_must_name_an_existing_service(rt: httpx.AsyncClient) -> None:
    response = await rt.put(f"{A}/routes/r1", params=GG, json=ROUTE)
    assert response.status_code == 400
    assert "billing" in response.json()["error_msg"]
    assert (await rt.get(f"{A}/routes", params=BILLING)).json()["total"] == 0


async def test_deleting_a_service_deletes_its_routes_only(rt: httpx.AsyncClient) -> None:
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    await put_ok(rt, f"{A}/services/orders", {**SERVICE, "name": "orders"})
    await put_ok(rt, f"{A}/routes/r1", ROUTE)
    await put_ok(rt, f"{A}/routes/r2", {**ROUTE, "service_id": "orders"})
    deleted = await rt.delete(f"{A}/services/billing", params=GG)
    assert deleted.status_code == 200
    assert deleted.json()["value"]["id"] == "billing"
    assert (await rt.get(f"{A}/routes", params=BILLING)).json() == {"total": 0, "list": []}
    routes = (await rt.get(f"{A}/routes", params={**GG, "service_id": "orders"})).json()
    assert [r["id"] for r in routes["list"]] == ["r2"]
    assert (await rt.get(f"{A}/services/billing", params=GG)).status_code == 404
    again = await rt.delete(f"{A}/services/billing", params=GG)
    assert again.status_code == 404
    assert again.json() == {"error_msg": "service not found: billing"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"{A}/upstreams", None),
        ("GET", f"{A}/upstreams/u1", None),
        ("PUT", f"{A}/upstreams/u1", {"nodes": [{"host": "h", "port": 80, "weight": 1}]}),
        ("DELETE", f"{A}/upstreams/u1", None),
    ],
)
async def test_stand_alone_upstreams_are_not_served(
    rt: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    # api7/a7 docs/api7ee-api-spec.md: "NOT EXPOSED in API7 EE ... returns resource not found" (a7's text for a 404).
    answer = await rt.request(method, path, params=GG, json=body)
    assert (answer.status_code, answer.json()) == (404, {"error_msg": "Not Found"})
    assert not any((await group_state(rt))["resources"].values())


async def test_an_upstream_id_names_no_upstream(rt: httpx.AsyncClient) -> None:
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    await put_ok(rt, f"{A}/services/billing/upstreams/u1", CANARY)
    for path, body in ((f"{A}/services/orders", {"name": "orders"}), (f"{A}/routes/r1", ROUTE)):
        refused = await rt.put(path, params=GG, json={**body, "upstream_id": "u1"})
        assert refused.status_code == 400
        assert "upstream id [u1]" in refused.json()["error_msg"]
    assert set((await group_state(rt))["resources"]["services"]) == {"billing"}


async def test_credentials_live_under_their_consumer(rt: httpx.AsyncClient) -> None:
    orphan = await rt.put(f"{A}/consumers/ci-bot/credentials/c1", params=GG, json={"plugins": {"key-auth": {}}})
    assert orphan.status_code == 404
    await put_ok(rt, f"{A}/consumers/ci-bot", {"username": "ci-bot", "desc": "CI"})
    cred = await put_ok(rt, f"{A}/consumers/ci-bot/credentials/c1", {"name": "main", "plugins": {"key-auth": {}}})
    assert cred["id"] == "c1"
    listed = (await rt.get(f"{A}/consumers/ci-bot/credentials", params=GG)).json()
    assert listed["total"] == 1
    await rt.delete(f"{A}/consumers/ci-bot", params=GG)
    assert "ci-bot/c1" not in (await group_state(rt))["resources"].get("credentials", {})


async def test_global_rules_and_plugin_metadata_take_adcs_shapes(rt: httpx.AsyncClient) -> None:
    rule = await put_ok(rt, f"{A}/global_rules/prometheus", {"plugins": {"prometheus": {"prefer_name": True}}})
    assert rule["plugins"] == {"prometheus": {"prefer_name": True}}
    await put_ok(rt, f"{A}/plugin_metadata/http-logger", {"log_format": {"host": "$host"}})
    every = (await rt.get(f"{A}/plugin_metadata", params=GG)).json()
    assert every == {"value": {"http-logger": {"log_format": {"host": "$host"}}}}
    one = (await rt.get(f"{A}/plugin_metadata/http-logger", params=GG)).json()["value"]
    assert one["log_format"] == {"host": "$host"}


async def test_version_is_answered_and_3_2s_calls_are_not_served(rt: httpx.AsyncClient) -> None:
    assert (await rt.get("/api/version")).json() == {"value": "3.5.0"}
    publish = await rt.post("/api/services/publish", json={"gateway_group_id": "default", "services": []})
    assert publish.status_code == 404


async def test_runtime_calls_go_through_faults_and_the_recorder(rt: httpx.AsyncClient) -> None:
    fault = {"status": 503, "path": f"{A}/services", "method": "PUT", "when": "after"}
    assert (await rt.post("/_sandbox/faults", json=fault)).status_code == 201
    failed = await rt.put(f"{A}/services/billing", params=GG, json=SERVICE)
    assert failed.status_code == 503
    # "after": the write took effect although the client was told it failed.
    assert "billing" in (await group_state(rt))["resources"]["services"]
    effects = (await rt.get("/_sandbox/effects", params={"by": "route"})).json()
    assert effects["counts"] == {f"PUT {A}/services/billing": 1}
    records = (await rt.get("/_sandbox/requests", params={"path": f"{A}/services"})).json()
    assert records[0]["query"] == GG
    assert records[0]["status"] == 503


async def test_a_default_page_size_truncates_a_client_that_does_not_page(clock: FakeClock) -> None:
    state = new_state(BOOTSTRAP, clock, api7_version=RUNTIME_VERSION, default_page_size=2)
    async with make_client(state, headers={"X-API-KEY": BOOTSTRAP}) as c:
        for n in range(3):
            await put_ok(c, f"{A}/services/s{n}", {**SERVICE, "name": f"s{n}"})
        unpaged = (await c.get(f"{A}/services", params=GG)).json()
        assert unpaged["total"] == 3
        assert len(unpaged["list"]) == 2
        asked = (await c.get(f"{A}/services", params={**GG, "page_size": 10})).json()
        assert len(asked["list"]) == 3
    with pytest.raises(ValueError, match="default_page_size"):
        new_state(BOOTSTRAP, clock, default_page_size=0)


async def test_what_a_get_answers_can_be_put_back_unchanged(rt: httpx.AsyncClient, clock: FakeClock) -> None:
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    route = await put_ok(rt, f"{A}/routes/r1", {**ROUTE, "plugins": {"key-auth": {}}})
    clock.advance(1)
    again = await put_ok(rt, f"{A}/routes/r1", route)
    assert {**again, "updated_at": 0} == {**route, "updated_at": 0}


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"NaN", b'{"name": "x"'])
async def test_a_body_that_is_not_a_json_object_is_refused(rt: httpx.AsyncClient, raw: bytes) -> None:
    response = await rt.put(f"{A}/services/billing", params=GG, content=raw)
    assert response.status_code == 400
    assert set(response.json()) == {"error_msg"}
    assert (await rt.get(f"{A}/services", params=GG)).json()["total"] == 0


async def test_answers_carry_the_ids_adcs_fetcher_reads(rt: httpx.AsyncClient) -> None:
    service = await put_ok(rt, f"{A}/services/billing", SERVICE)
    route = await put_ok(rt, f"{A}/routes/r1", {**ROUTE, "route_id": "r1"})
    stream = await put_ok(rt, f"{A}/stream_routes/s1", {"name": "tcp", "service_id": "billing", "server_port": 9100})
    consumer = await put_ok(rt, f"{A}/consumers/ci-bot", {"username": "ci-bot"})
    credential = await put_ok(rt, f"{A}/consumers/ci-bot/credentials/c1", {"plugins": {"key-auth": {"key": "k"}}})
    ssl = await put_ok(rt, f"{A}/ssls/api", {"id": "api", "cert": CERT, "key": KEY, "snis": ["api.example.com"]})
    assert (service["id"], service["service_id"]) == ("billing", "billing")
    assert (route["id"], route["route_id"], route["service_id"]) == ("r1", "r1", "billing")
    assert (stream["stream_route_id"], stream["service_id"]) == ("s1", "billing")
    assert consumer["username"] == "ci-bot"
    assert (credential["id"], ssl["id"]) == ("c1", "api")


async def test_stream_routes_belong_to_a_service_and_go_with_it(rt: httpx.AsyncClient) -> None:
    body = {"name": "tcp", "service_id": "billing", "server_port": 9100}
    assert (await rt.put(f"{A}/stream_routes/s1", params=GG, json=body)).status_code == 400
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    await put_ok(rt, f"{A}/stream_routes/s1", body)
    await rt.delete(f"{A}/services/billing", params=GG)
    assert (await rt.get(f"{A}/stream_routes", params=GG)).json()["total"] == 0


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS[:4], ids=[f"{m} {p}" for m, p, _ in OPERATIONS[:4]])
async def test_runtime_calls_need_the_api_key(
    runtime_state: SandboxState, method: str, path: str, body: dict[str, Any] | None
) -> None:
    async with make_client(runtime_state) as anon:
        response = await anon.request(method, path, params=GG, json=body)
        assert response.status_code == 401
        assert not any((await group_state(anon))["resources"].values())


async def test_a_services_upstreams_are_served_under_it_as_adcs_api7ee_backend_calls_them(
    rt: httpx.AsyncClient, clock: FakeClock
) -> None:
    base = f"{A}/services/billing/upstreams"
    orphan = await rt.put(f"{base}/u1", params=GG, json=CANARY)
    assert (orphan.status_code, orphan.json()) == (404, {"error_msg": "service not found: billing"})
    service = await put_ok(rt, f"{A}/services/billing", SERVICE)
    clock.advance(1)
    created = await put_ok(rt, f"{base}/u1", CANARY)
    assert (created["id"], created["name"], created["type"]) == ("u1", "canary", "roundrobin")
    listed = (await rt.get(base, params=GG)).json()
    assert listed["total"] == 2
    assert [item["id"] for item in listed["list"]] == ["u1", "billing"]  # newest first; the default is the service's
    assert listed["list"][1]["nodes"] == service["upstream"]["nodes"]
    paged = (await rt.get(base, params={**GG, "page": 2, "page_size": 1})).json()
    assert paged == {"total": 2, "list": [listed["list"][1]]}
    assert (await rt.get(f"{base}/u1", params=GG)).json() == {"value": created}
    deleted = await rt.delete(f"{base}/u1", params=GG)
    assert deleted.json() == {"value": created}
    again = await rt.delete(f"{base}/u1", params=GG)
    assert (again.status_code, again.json()) == (404, {"error_msg": "upstream not found: u1"})
    default = await rt.delete(f"{base}/billing", params=GG)
    assert default.status_code == 400
    assert (await rt.get(base, params=GG)).json()["total"] == 1


@pytest.mark.parametrize(
    ("kind", "body"),
    [("routes", ROUTE), ("stream_routes", {"name": "tcp", "service_id": "billing", "server_port": 9100})],
)
async def test_route_lists_take_a_service_id_filter(rt: httpx.AsyncClient, kind: str, body: dict[str, Any]) -> None:
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    await put_ok(rt, f"{A}/services/orders", {**SERVICE, "name": "orders"})
    await put_ok(rt, f"{A}/{kind}/r1", body)
    await put_ok(rt, f"{A}/{kind}/r2", {**body, "service_id": "orders"})

    async def ids(**query: str) -> list[str]:
        answer = (await rt.get(f"{A}/{kind}", params={**GG, **query})).json()
        assert answer["total"] == len(answer["list"])
        return sorted(item["id"] for item in answer["list"])

    assert await ids(service_id="billing") == ["r1"]
    assert await ids(service_id="orders") == ["r2"]
    assert await ids(service_id="nope") == []


@pytest.mark.parametrize("query", [{}, {"service_id": ""}], ids=["absent", "empty"])
async def test_a_route_list_asked_with_an_access_token_needs_a_service_id(
    rt: httpx.AsyncClient, query: dict[str, str]
) -> None:
    # api7/a7 5f4b007: "API7 EE requires service_id when listing routes with access tokens" (status and wording
    # inferred). It says so of routes only: a stream route list is answered without one.
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    await put_ok(rt, f"{A}/routes/r1", ROUTE)
    await put_ok(rt, f"{A}/stream_routes/s1", {"name": "tcp", "service_id": "billing", "server_port": 9100})
    refused = await rt.get(f"{A}/routes", params={**GG, **query})
    assert (refused.status_code, refused.json()) == (400, {"error_msg": "service_id is required"})
    assert (await rt.get(f"{A}/routes", params=BILLING)).json()["total"] == 1
    assert (await rt.get(f"{A}/stream_routes", params=GG)).json()["total"] == 1
