"""Gateway groups, services under /apisix/admin/services, and publishing to a gateway group."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import FakeClock
from tests.worker.devtools.sandbox.support import START, UPSTREAM, create_service, publish

pytestmark = pytest.mark.anyio


async def test_the_default_gateway_group_is_seeded(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/api/gateway_groups")).json()
    assert listed["total"] == 1
    group = (await client.get("/api/gateway_groups/default")).json()["value"]
    assert listed["list"] == [group]
    assert group["id"] == group["name"] == "default"
    assert group["config"]["group_type"] == "API7EE_GATEWAY_3.2"


async def test_an_unknown_gateway_group_is_404(client: httpx.AsyncClient) -> None:
    for path in [
        "/api/gateway_groups/nope",
        "/api/gateway_groups/nope/services",
        "/api/gateway_groups/nope/services/s",
    ]:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "gateway group not found" in response.json()["error_msg"]


async def test_create_get_and_list_a_service(client: httpx.AsyncClient) -> None:
    created = await create_service(client, "billing", hosts=["billing.example.com"], labels={"team": "pay"})
    assert created["name"] == "billing"
    assert created["upstream"] == UPSTREAM
    assert created["created_at"] == created["updated_at"] == int(START)
    assert created["published_gateway_groups_count"] == 0

    response = await client.get(f"/apisix/admin/services/{created['id']}")
    assert response.json() == {"value": created, "key": f"/apisix/services/{created['id']}"}
    listed = (await client.get("/apisix/admin/services")).json()
    assert listed == {"total": 1, "list": [created]}


async def test_list_services_paging_and_search(client: httpx.AsyncClient, clock: FakeClock) -> None:
    for name in ["orders", "billing", "orders-v2"]:
        clock.advance(1)
        await create_service(client, name)
    page = (await client.get("/apisix/admin/services", params={"search": "orders", "page_size": 1})).json()
    assert page["total"] == 2
    assert [s["name"] for s in page["list"]] == ["orders-v2"]
    ascending = (
        await client.get("/apisix/admin/services", params={"order_by": "created_at", "direction": "asc"})
    ).json()
    assert [s["name"] for s in ascending["list"]] == ["orders", "billing", "orders-v2"]


async def test_put_replaces_and_keeps_server_fields(client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await create_service(client, "billing", desc="old", hosts=["a.example.com"])
    clock.advance(7)
    # Sending back what GET returned (with server fields) must work, as clients often do.
    body = {**created, "name": "billing-2", "desc": "new"}
    del body["hosts"]
    response = await client.put(f"/apisix/admin/services/{created['id']}", json=body)
    assert response.status_code == 200
    value = response.json()["value"]
    assert value["name"] == "billing-2"
    assert value["desc"] == "new"
    assert "hosts" not in value
    assert value["created_at"] == int(START)
    assert value["updated_at"] == int(START) + 7


async def test_put_creates_a_service_with_the_given_id(client: httpx.AsyncClient) -> None:
    response = await client.put("/apisix/admin/services/my-service", json={"name": "mine", "upstream": UPSTREAM})
    assert response.status_code == 200
    assert response.json()["value"]["id"] == "my-service"
    assert (await client.get("/apisix/admin/services/my-service")).status_code == 200


async def test_put_refuses_a_different_id_in_the_body(client: httpx.AsyncClient) -> None:
    response = await client.put("/apisix/admin/services/a", json={"id": "b", "name": "x"})
    assert response.status_code == 400


async def test_patch_merges(client: httpx.AsyncClient) -> None:
    created = await create_service(client, "billing", desc="remove me", labels={"a": "1", "b": "2"})
    patch = {"desc": None, "labels": {"b": None, "c": "3"}, "upstream": {"type": "least_conn"}}
    response = await client.patch(f"/apisix/admin/services/{created['id']}", json=patch)
    assert response.status_code == 200
    value = response.json()["value"]
    assert "desc" not in value
    assert value["labels"] == {"a": "1", "c": "3"}
    assert value["upstream"] == {**UPSTREAM, "type": "least_conn"}


async def test_patch_dry_run_changes_nothing(client: httpx.AsyncClient) -> None:
    created = await create_service(client, "billing")
    url = f"/apisix/admin/services/{created['id']}"
    response = await client.patch(url, params={"dry-run": "all"}, json={"name": "renamed"})
    assert response.json()["value"]["name"] == "renamed"
    assert (await client.get(url)).json()["value"]["name"] == "billing"


async def test_patch_cannot_remove_the_name(client: httpx.AsyncClient) -> None:
    created = await create_service(client, "billing")
    response = await client.patch(f"/apisix/admin/services/{created['id']}", json={"name": None})
    assert response.status_code == 400
    assert response.json() == {"error_msg": "name is required"}


async def test_delete_a_service(client: httpx.AsyncClient) -> None:
    created = await create_service(client, "billing")
    url = f"/apisix/admin/services/{created['id']}"
    response = await client.delete(url)
    assert response.status_code == 200
    assert response.json()["key"] == f"/apisix/services/{created['id']}"
    for method in ["GET", "DELETE", "PATCH"]:
        assert (await client.request(method, url, json={"desc": "x"})).status_code == 404


async def test_publish_and_read_what_runs(client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await create_service(client, "billing", hosts=["billing.example.com"])
    clock.advance(60)
    response = await publish(client, created["id"], "1.0.0")
    assert response.status_code == 200
    (published,) = response.json()["value"]["services"]
    expected = {
        "id": created["id"],
        "service_id": created["id"],
        "version": "1.0.0",
        "name": "billing",
        "upstream": UPSTREAM,
        "gateway_group_id": "default",
        "gateway_group_name": "default",
        "status": 0,
        "created_at": int(START) + 60,
    }
    assert published.items() >= expected.items()

    one = await client.get(f"/api/gateway_groups/default/services/{created['id']}")
    assert one.json() == {"value": published}
    listed = (await client.get("/api/gateway_groups/default/services")).json()
    assert listed == {"total": 1, "list": [published]}
    where = (await client.get(f"/api/services/{created['id']}/published_services")).json()
    assert where == {"total": 1, "list": [published]}

    template = (await client.get(f"/apisix/admin/services/{created['id']}")).json()["value"]
    assert template["published_gateway_groups_count"] == 1
    assert template["last_published"] == int(START) + 60
    in_group = (await client.get("/apisix/admin/services", params={"gateway_group_id": "default"})).json()
    assert [s["id"] for s in in_group["list"]] == [created["id"]]


async def test_republishing_replaces_the_version(client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await create_service(client, "billing")
    await publish(client, created["id"], "1.0.0")
    clock.advance(10)
    await publish(client, created["id"], "1.1.0")
    listed = (await client.get("/api/gateway_groups/default/services")).json()
    assert [(p["version"], p["created_at"]) for p in listed["list"]] == [("1.1.0", int(START) + 10)]


async def test_unpublish(client: httpx.AsyncClient) -> None:
    created = await create_service(client, "billing")
    await publish(client, created["id"])
    url = f"/api/gateway_groups/default/services/{created['id']}"
    assert (await client.delete(url)).status_code == 200
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url)).status_code == 404
    template = (await client.get(f"/apisix/admin/services/{created['id']}")).json()["value"]
    assert template["published_gateway_groups_count"] == 0


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"gateway_group_id": "nope"}, 404, "gateway group not found: nope"),
        ({"services": [{"service_id": "nope", "version": "1", "upstream": UPSTREAM}]}, 404, "service not found: nope"),
        ({"services": []}, 400, "services must be a non-empty array"),
        ({"services": [{"service_id": "SERVICE", "upstream": UPSTREAM}]}, 400, "version is required"),
        ({"services": [{"service_id": "SERVICE", "version": "1"}]}, 400, "upstream is required"),
        ({"create_new_version": False}, 400, "service_version_id is required"),
        ({"create_new_version": "yes"}, 400, "create_new_version must be a boolean"),
        ({"gateway_group_id": None}, 400, "gateway_group_id is required"),
    ],
)
async def test_publish_refuses_bad_requests_without_effect(
    client: httpx.AsyncClient, change: dict[str, Any], status: int, message: str
) -> None:
    created = await create_service(client, "billing")
    body: dict[str, Any] = {
        "gateway_group_id": "default",
        "create_new_version": True,
        "services": [{"service_id": created["id"], "version": "1", "upstream": UPSTREAM}],
        **change,
    }
    for item in body["services"]:
        if item.get("service_id") == "SERVICE":
            item["service_id"] = created["id"]
    response = await client.post("/api/services/publish", json=body)
    assert response.status_code == status
    assert message in response.json()["error_msg"]
    assert (await client.get("/api/gateway_groups/default/services")).json()["total"] == 0


async def test_a_publish_is_all_or_nothing(client: httpx.AsyncClient) -> None:
    created = await create_service(client, "billing")
    body = {
        "gateway_group_id": "default",
        "services": [
            {"service_id": created["id"], "version": "1", "upstream": UPSTREAM},
            {"service_id": "missing", "version": "1", "upstream": UPSTREAM},
        ],
    }
    assert (await client.post("/api/services/publish", json=body)).status_code == 404
    assert (await client.get("/api/gateway_groups/default/services")).json()["total"] == 0
