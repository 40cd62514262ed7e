"""Authentication of admin routes: X-API-KEY header, cookie or `api_key` query; 401 otherwise."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.worker.devtools.sandbox.support import BOOTSTRAP, recorded
from worker.devtools.sandbox.state import SandboxState

pytestmark = pytest.mark.anyio


def header(secret: str) -> dict[str, Any]:
    """Send the key as the X-API-KEY header."""
    return {"headers": {"X-API-KEY": secret}}


def cookie(secret: str) -> dict[str, Any]:
    """Send the key as the X-API-KEY cookie, as API7's own docs show."""
    return {"headers": {"Cookie": f"X-API-KEY={secret}"}}


def query(secret: str) -> dict[str, Any]:
    """Send the key as the `api_key` query parameter, as APISIX accepts."""
    return {"params": {"api_key": secret}}


AUTH_MODES = [pytest.param(header, id="header"), pytest.param(cookie, id="cookie"), pytest.param(query, id="query")]

# One request per admin operation; without a key each must be refused before it has any effect.
ADMIN_REQUESTS = [
    ("GET", "/api/settings/tokens", None),
    ("POST", "/api/settings/tokens", {"name": "x", "expires_at": 0}),
    ("GET", "/api/settings/tokens/check_name?name=x", None),
    ("GET", "/api/tokens/some-id", None),
    ("PUT", "/api/tokens/some-id", {"name": "x"}),
    ("DELETE", "/api/tokens/some-id", None),
    ("PUT", "/api/tokens/some-id/regenerate", {"expires_at": 0}),
    ("GET", "/api/gateway_groups", None),
    ("GET", "/api/gateway_groups/default", None),
    ("GET", "/api/gateway_groups/default/services", None),
    ("GET", "/api/gateway_groups/default/services/s1", None),
    ("DELETE", "/api/gateway_groups/default/services/s1", None),
    ("GET", "/apisix/admin/services", None),
    ("POST", "/apisix/admin/services", {"name": "x"}),
    ("GET", "/apisix/admin/services/s1", None),
    ("PUT", "/apisix/admin/services/s1", {"name": "x"}),
    ("PATCH", "/apisix/admin/services/s1", {"desc": "x"}),
    ("DELETE", "/apisix/admin/services/s1", None),
    ("POST", "/api/services/publish", {"gateway_group_id": "default", "services": []}),
    ("GET", "/api/services/s1/published_services", None),
    ("GET", "/no/such/route", None),
]


@pytest.mark.parametrize("mode", AUTH_MODES)
async def test_each_way_of_sending_the_key_authenticates(anon: httpx.AsyncClient, mode: Any) -> None:
    response = await anon.get("/api/gateway_groups", **mode(BOOTSTRAP))
    assert response.status_code == 200
    assert response.json()["list"][0]["id"] == "default"


@pytest.mark.parametrize("mode", AUTH_MODES)
async def test_a_wrong_key_is_refused_in_each_way(anon: httpx.AsyncClient, mode: Any) -> None:
    response = await anon.get("/api/gateway_groups", **mode("not-the-secret"))
    assert response.status_code == 401
    assert response.json() == {"error_msg": "invalid API key"}


async def test_a_missing_key_is_refused(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/gateway_groups")
    assert response.status_code == 401
    assert response.json() == {"error_msg": "missing API key"}


async def test_bearer_is_not_how_api7_authenticates(anon: httpx.AsyncClient) -> None:
    # The description's security scheme says bearer, but API7 takes X-API-KEY; the sandbox is as strict as API7.
    response = await anon.get("/api/gateway_groups", headers={"Authorization": f"Bearer {BOOTSTRAP}"})
    assert response.status_code == 401


async def test_the_header_wins_over_the_cookie(anon: httpx.AsyncClient) -> None:
    headers = {"X-API-KEY": "wrong", "Cookie": f"X-API-KEY={BOOTSTRAP}"}
    assert (await anon.get("/api/gateway_groups", headers=headers)).status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_REQUESTS)
async def test_every_admin_route_needs_a_key(
    anon: httpx.AsyncClient, state: SandboxState, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await anon.request(method, path, json=body)
    assert response.status_code == 401
    assert "error_msg" in response.json()
    assert len(state.tokens.all()) == 1
    assert state.catalog.services == {}


@pytest.mark.parametrize("path", ["/_sandbox/requests", "/_sandbox/faults", "/_sandbox/health"])
async def test_control_routes_need_no_key(anon: httpx.AsyncClient, path: str) -> None:
    assert (await anon.get(path)).status_code == 200


async def test_refused_requests_are_recorded_as_unauthenticated(anon: httpx.AsyncClient) -> None:
    await anon.get("/api/tokens", headers={"X-API-KEY": "nope"})
    (record,) = await recorded(anon)
    assert record["status"] == 401
    assert record["authenticated"] is False
    assert record["token_id"] is None
