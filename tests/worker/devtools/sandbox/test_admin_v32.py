"""API7 3.2: route templates, per-group consumers/SSLs/global rules/plugin metadata, publish and unpublish."""

from __future__ import annotations

import httpx
import pytest

from tests.worker.devtools.sandbox.support import (
    CERT,
    GG,
    KEY,
    add_group,
    create_service,
    group_state,
    publish,
    put_route_template,
)

pytestmark = pytest.mark.anyio

A = "/apisix/admin"


async def test_3_2_has_no_version_route_and_no_runtime_only_calls(client: httpx.AsyncClient) -> None:
    version = await client.get("/api/version")
    assert version.status_code == 404
    assert set(version.json()) == {"error_msg"}
    assert (await client.get(f"{A}/upstreams", params=GG)).status_code == 404
    assert (await client.get(f"{A}/consumers/ci/credentials", params=GG)).status_code == 404


async def test_route_templates_belong_to_service_templates(client: httpx.AsyncClient) -> None:
    orphan = await client.put(f"{A}/routes/r1", json={"name": "r1", "paths": ["/x"], "service_id": "nope"})
    assert orphan.status_code == 400
    service = await create_service(client)
    other = await create_service(client, "orders")
    route = await put_route_template(client, "r1", service["id"])
    await put_route_template(client, "r2", other["id"])
    assert route["service_id"] == service["id"]
    assert "status" not in route, "templates get no runtime defaults"
    mine = (await client.get(f"{A}/routes", params={"service_id": service["id"]})).json()
    assert [r["id"] for r in mine["list"]] == ["r1"]
    assert (await client.delete(f"{A}/routes/r1")).status_code == 200
    assert (await client.get(f"{A}/routes/r1")).status_code == 404


async def test_publish_snapshots_the_routes_and_unpublish_removes_the_service(client: httpx.AsyncClient) -> None:
    service = await create_service(client)
    await put_route_template(client, "r1", service["id"])
    assert (await publish(client, service["id"])).status_code == 200
    await put_route_template(client, "r2", service["id"])  # after publishing: not live until published again
    published = (await group_state(client))["published"]
    assert [r["id"] for r in published[service["id"]]["routes"]] == ["r1"]
    listed = (await client.get("/api/gateway_groups/default/services")).json()
    assert [p["id"] for p in listed["list"]] == [service["id"]]
    gone = await client.delete(f"/api/gateway_groups/default/services/{service['id']}")
    assert gone.status_code == 200
    assert (await group_state(client))["published"] == {}
    assert (await client.get(f"/api/gateway_groups/default/services/{service['id']}")).status_code == 404


async def test_consumers_and_ssls_are_named_by_id_alone(client: httpx.AsyncClient) -> None:
    no_group = await client.put(f"{A}/consumers/ci_bot", json={"username": "ci_bot"})
    assert no_group.status_code == 400
    assert "gateway_group_id" in no_group.json()["error_msg"]
    await client.put(f"{A}/consumers/ci_bot", params=GG, json={"username": "ci_bot"})
    assert (await client.get(f"{A}/consumers/ci_bot")).json()["value"]["username"] == "ci_bot"
    await add_group(client, "staging", "staging")
    elsewhere = await client.put(
        f"{A}/consumers/ci_bot", params={"gateway_group_id": "staging"}, json={"username": "ci_bot"}
    )
    assert elsewhere.status_code == 400
    ssl = {"cert": CERT, "key": KEY, "snis": ["api.example.com"]}
    await client.put(f"{A}/ssls/api", params=GG, json=ssl)
    got = (await client.get(f"{A}/ssls/api")).json()["value"]
    assert "key" not in got
    assert (await client.delete(f"{A}/ssls/api")).status_code == 200
    assert (await client.get(f"{A}/ssls/api")).status_code == 404


async def test_lists_global_rules_and_metadata_need_the_group(client: httpx.AsyncClient) -> None:
    for path in (f"{A}/consumers", f"{A}/ssls", f"{A}/global_rules", f"{A}/global_rules/g", f"{A}/plugin_metadata/p"):
        response = await client.get(path)
        assert response.status_code == 400, path
        assert response.json() == {"error_msg": "gateway_group_id is required"}


async def test_an_ssl_takes_cert_and_key_or_certs_and_keys_not_both(client: httpx.AsyncClient) -> None:
    both = {"cert": CERT, "key": KEY, "certs": [CERT], "keys": [KEY], "snis": ["a.example.com"]}
    assert (await client.put(f"{A}/ssls/s", params=GG, json=both)).status_code == 400
    many = {"certs": [CERT, CERT], "keys": [KEY, KEY], "snis": ["a.example.com"]}
    assert (await client.put(f"{A}/ssls/s", params=GG, json=many)).status_code == 200
