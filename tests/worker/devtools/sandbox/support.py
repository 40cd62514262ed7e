"""Helpers shared by the sandbox tests."""

from __future__ import annotations

from typing import Any

import httpx

from worker.devtools.sandbox.app import build_app
from worker.devtools.sandbox.state import SandboxState

BOOTSTRAP = "bootstrap-secret-for-tests"
RUNTIME_VERSION = "3.5.0"
START = 1_700_000_000.0
BASE_URL = "http://sandbox.test"
TOKEN_PREFIXES = ("/api/settings/tokens", "/api/tokens")


def make_client(state: SandboxState, **kwargs: Any) -> httpx.AsyncClient:
    """Return a client for an app around `state`."""
    transport = httpx.ASGITransport(app=build_app(state))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, **kwargs)


async def recorded(anon: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Return what the sandbox recorded so far."""
    response = await anon.get("/_sandbox/requests")
    assert response.status_code == 200
    records: list[dict[str, Any]] = response.json()
    return records


async def create_token(
    client: httpx.AsyncClient, name: str, expires_at: int = 0, prefix: str = TOKEN_PREFIXES[0]
) -> dict[str, Any]:
    """Create a token and return its `value` (which includes the secret)."""
    response = await client.post(prefix, json={"name": name, "expires_at": expires_at})
    assert response.status_code == 200, response.text
    value: dict[str, Any] = response.json()["value"]
    return value


UPSTREAM: dict[str, Any] = {"type": "roundrobin", "nodes": [{"host": "127.0.0.1", "port": 8080, "weight": 1}]}


async def create_service(client: httpx.AsyncClient, name: str = "billing", **fields: Any) -> dict[str, Any]:
    """Create a service and return its `value`."""
    response = await client.post("/apisix/admin/services", json={"name": name, "upstream": UPSTREAM, **fields})
    assert response.status_code == 200, response.text
    value: dict[str, Any] = response.json()["value"]
    return value


async def publish(client: httpx.AsyncClient, service_id: str, version: str = "1.0.0") -> httpx.Response:
    """Publish a service to the default gateway group."""
    body = {
        "gateway_group_id": "default",
        "create_new_version": True,
        "services": [{"service_id": service_id, "version": version, "upstream": UPSTREAM}],
    }
    return await client.post("/api/services/publish", json=body)


# PEM-shaped strings long enough for the description's minLength (128); the sandbox does not parse certificates.
CERT = "-----BEGIN CERTIFICATE-----\n" + "C" * 160 + "\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\n" + "K" * 160 + "\n-----END PRIVATE KEY-----\n"
GG = {"gateway_group_id": "default"}


async def put_route_template(client: httpx.AsyncClient, route_id: str, service_id: str) -> dict[str, Any]:
    """PUT a 3.2 route template of a service and return its `value`."""
    body = {"name": route_id, "paths": ["/orders"], "methods": ["GET"], "service_id": service_id}
    response = await client.put(f"/apisix/admin/routes/{route_id}", json=body)
    assert response.status_code == 200, response.text
    value: dict[str, Any] = response.json()["value"]
    return value


async def put_ok(client: httpx.AsyncClient, path: str, body: dict[str, Any], group: str = "default") -> dict[str, Any]:
    """PUT a runtime resource in a gateway group and return its `value`."""
    response = await client.put(path, params={"gateway_group_id": group}, json=body)
    assert response.status_code == 200, response.text
    value: dict[str, Any] = response.json()["value"]
    return value


async def group_state(client: httpx.AsyncClient, group: str = "default") -> dict[str, Any]:
    """Return the control API's whole state of a gateway group."""
    response = await client.get(f"/_sandbox/gateway_groups/{group}")
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def add_group(client: httpx.AsyncClient, group_id: str, name: str) -> None:
    """Add a gateway group through the control API."""
    response = await client.post("/_sandbox/gateway_groups", json={"id": group_id, "name": name})
    assert response.status_code == 201, response.text


SERVICE: dict[str, Any] = {
    "name": "billing",
    "desc": "invoices",
    "labels": {"team": "pay"},
    "upstream": {"nodes": [{"host": "billing.internal", "port": 8080, "weight": 100}]},
}
ROUTE: dict[str, Any] = {"name": "list-invoices", "paths": ["/invoices"], "methods": ["GET"], "service_id": "billing"}
