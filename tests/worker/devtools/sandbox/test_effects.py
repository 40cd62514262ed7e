"""Counted effects: writes that took effect, per Idempotency-Key, path or route, so duplicates show."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.worker.devtools.sandbox.support import UPSTREAM

pytestmark = pytest.mark.anyio

SERVICES = "/apisix/admin/services"
SERVICE = {"name": "billing", "upstream": UPSTREAM}


async def effects(anon: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    """Return GET /_sandbox/effects."""
    response = await anon.get("/_sandbox/effects", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def writes(client: httpx.AsyncClient) -> None:
    """Two creates of one event action, one of another, a PUT and a write without a key."""
    for key in ("evt_1:create:0", "evt_1:create:0", "evt_2:create:0"):
        assert (await client.post(SERVICES, json=SERVICE, headers={"Idempotency-Key": key})).status_code == 200
    await client.put(f"{SERVICES}/svc", json=SERVICE, headers={"Idempotency-Key": "evt_3:put:0"})
    await client.post("/api/tokens", json={"name": "ci", "expires_at": 0})


@pytest.mark.parametrize(
    ("params", "counts", "total", "without_key"),
    [
        ({}, {"evt_1:create:0": 2, "evt_2:create:0": 1, "evt_3:put:0": 1}, 5, 1),
        ({"by": "path"}, {SERVICES: 3, f"{SERVICES}/svc": 1, "/api/tokens": 1}, 5, 1),
        ({"by": "route", "path": SERVICES}, {f"POST {SERVICES}": 3, f"PUT {SERVICES}/svc": 1}, 4, 0),
        ({"method": "post", "path": SERVICES}, {"evt_1:create:0": 2, "evt_2:create:0": 1}, 3, 0),
    ],
    ids=["by-key", "by-path", "by-route-under-path", "posts-only"],
)
async def test_counts_by_grouping_and_filter(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    params: dict[str, str],
    counts: dict[str, int],
    total: int,
    without_key: int,
) -> None:
    await writes(client)
    body = await effects(anon, **params)
    assert (body["counts"], body["total"], body["without_key"]) == (counts, total, without_key)
    assert body["duplicates"] == {k: n for k, n in counts.items() if n > 1}


async def test_only_writes_that_took_effect_count(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await client.put(f"{SERVICES}/svc", json=SERVICE)
    await client.get(SERVICES, headers={"Idempotency-Key": "read"})  # a read
    await client.post(SERVICES, json={"upstream": UPSTREAM}, headers={"Idempotency-Key": "bad"})  # a 400
    await client.patch(f"{SERVICES}/svc", params={"dry-run": "all"}, json={"desc": "x"})  # a dry run
    await anon.post(SERVICES, json=SERVICE, headers={"Idempotency-Key": "anon"})  # a 401
    await anon.post("/_sandbox/faults", json={"status": 503})
    await client.post(SERVICES, json=SERVICE, headers={"Idempotency-Key": "faulted"})  # refused before handling
    await anon.post("/open-api", json={"Action": "DescribeCodingCurrentUser"}, headers={"Idempotency-Key": "c"})
    assert (await effects(anon, by="route")) == {
        "by": "route",
        "total": 1,
        "counts": {f"PUT {SERVICES}/svc": 1},
        "duplicates": {},
        "without_key": 1,
    }


async def test_counts_outlive_the_request_log_and_clear_apart(
    anon: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await writes(client)
    await anon.delete("/_sandbox/requests")
    assert (await effects(anon))["total"] == 5
    assert (await anon.delete("/_sandbox/effects")).json() == {"deleted": 5}
    assert (await effects(anon))["counts"] == {}


async def test_an_unknown_grouping_is_400(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/_sandbox/effects", params={"by": "event"})
    assert response.status_code == 400
    assert "by must be one of idempotency_key, path, route" in response.json()["error_msg"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"effect": "true"}, [("POST", 200), ("POST", 200), ("POST", 200), ("PUT", 200), ("POST", 200)]),
        ({"effect": "false"}, [("GET", 200)]),
        ({"method": "PUT"}, [("PUT", 200)]),
        ({"idempotency_key": "evt_1:create:0"}, [("POST", 200), ("POST", 200)]),
        ({"status": "200", "path": "/api/"}, [("POST", 200), ("GET", 200)]),
    ],
)
async def test_recorded_requests_can_be_filtered(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, params: dict[str, str], expected: list[tuple[str, int]]
) -> None:
    await writes(client)
    await client.get("/api/gateway_groups")
    records = (await anon.get("/_sandbox/requests", params=params)).json()
    assert [(r["method"], r["status"]) for r in records] == expected


async def test_a_put_that_changes_nothing_is_answered_but_is_no_effect(rt: httpx.AsyncClient) -> None:
    path, params = "/apisix/admin/services/billing", {"gateway_group_id": "default"}
    bodies = (SERVICE, SERVICE, {**SERVICE, "desc": "changed"}, {**SERVICE, "desc": "changed"})
    for n, body in enumerate(bodies):
        response = await rt.put(path, params=params, json=body, headers={"Idempotency-Key": f"k{n // 2}"})
        assert response.status_code == 200, response.text

    # The first PUT created it, the third changed it; the same body sent again changed nothing either time.
    body = await effects(rt)
    assert (body["counts"], body["duplicates"]) == ({"k0": 1, "k1": 1}, {})
    recorded = (await rt.get("/_sandbox/requests", params={"method": "PUT"})).json()
    assert [r["effect"] for r in recorded] == [True, False, True, False]
