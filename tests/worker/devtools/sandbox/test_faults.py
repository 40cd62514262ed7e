"""Injected faults: statuses, 429 with Retry-After, latency; counted or at a rate; before or after the effect."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
import pytest

from tests.support import FakeClock
from tests.worker.devtools.sandbox.support import BOOTSTRAP, START, make_client, recorded
from worker.devtools.sandbox.state import SandboxState, new_state

pytestmark = pytest.mark.anyio


async def inject(anon: httpx.AsyncClient, fault: Any) -> None:
    """Queue a fault (or a list of them)."""
    response = await anon.post("/_sandbox/faults", json=fault)
    assert response.status_code == 201, response.text


async def statuses(client: httpx.AsyncClient, n: int, path: str = "/api/gateway_groups") -> list[int]:
    """Send `n` requests and return their statuses."""
    return [(await client.get(path)).status_code for _ in range(n)]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"status": 503, "count": 3}, [503, 503, 503, 200]),
        ({"status": 500}, [500, 200]),
        ({"status": 429, "retry_after": 1, "count": 2}, [429, 429, 200]),
        ({"status": 401, "count": 1}, [401, 200]),
        ({"latency_ms": 1, "count": 2}, [200, 200, 200]),
        ({"latency_ms": 1, "status": 504}, [504, 200]),
    ],
    ids=["503x3", "500", "429-retry-after", "401", "latency", "latency-then-504"],
)
async def test_fault_kinds(anon: httpx.AsyncClient, client: httpx.AsyncClient, fault: Any, expected: list[int]) -> None:
    await inject(anon, fault)
    assert await statuses(client, len(expected)) == expected
    records = await recorded(anon)
    assert [r["status"] for r in records] == expected
    faulted = [r["fault"] is not None for r in records]
    assert faulted == [True] * fault.get("count", 1) + [False] * (len(expected) - fault.get("count", 1))


async def test_an_injected_error_looks_like_the_admin_api(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await inject(anon, {"status": 429, "retry_after": 7})
    response = await client.get("/api/tokens")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"error_msg": "sandbox fault injected"}


async def test_a_status_fault_has_no_effect(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await inject(anon, {"status": 503})
    assert (await client.post("/api/tokens", json={"name": "ci", "expires_at": 0})).status_code == 503
    assert (await client.get("/api/tokens")).json()["total"] == 1


async def test_faults_are_consumed_in_order(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await inject(anon, [{"status": 503, "count": 2}, {"status": 429, "retry_after": 0}])
    await inject(anon, {"status": 500})
    assert await statuses(client, 5) == [503, 503, 429, 500, 200]


async def test_a_path_prefix_limits_a_fault(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await inject(anon, {"status": 503, "path": "/api/tokens", "count": 1})
    assert await statuses(client, 1, "/api/gateway_groups") == [200]
    assert await statuses(client, 1, "/api/tokens/some-id") == [503]
    assert await statuses(client, 1, "/api/tokens") == [200]


async def test_a_method_limits_a_fault(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await inject(anon, {"status": 502, "method": "put"})
    assert await statuses(client, 1) == [200]
    response = await client.put("/apisix/admin/services/x", json={"name": "x"})
    assert response.status_code == 502


async def test_faults_hit_unauthenticated_and_coding_requests(anon: httpx.AsyncClient) -> None:
    await inject(anon, {"status": 503, "count": 2})
    assert (await anon.get("/api/tokens")).status_code == 503
    assert (await anon.post("/open-api", json={"Action": "DescribeCodingCurrentUser"})).status_code == 503
    assert (await anon.get("/api/tokens")).status_code == 401


async def test_faults_spare_the_control_routes(anon: httpx.AsyncClient) -> None:
    await inject(anon, {"status": 503})
    assert (await anon.get("/_sandbox/requests")).status_code == 200
    assert len((await anon.get("/_sandbox/faults")).json()) == 1


async def test_list_and_clear(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await inject(anon, [{"status": 503, "count": 2, "path": "/api/"}, {"latency_ms": 5}])
    listed = (await anon.get("/_sandbox/faults")).json()
    assert [(f["status"], f["count"], f["path"]) for f in listed] == [(503, 2, "/api/"), (None, 1, None)]
    await client.get("/api/tokens")
    assert (await anon.get("/_sandbox/faults")).json()[0]["count"] == 1
    assert (await anon.delete("/_sandbox/faults")).json() == {"deleted": 2}
    assert await statuses(client, 1) == [200]


async def test_latency_delays_the_answer(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await inject(anon, {"latency_ms": 100})
    started = time.perf_counter()
    assert (await client.get("/api/tokens")).status_code == 200
    assert time.perf_counter() - started >= 0.1
    assert (await recorded(anon))[0]["fault"]["latency_ms"] == 100


async def test_latency_does_not_block_other_requests(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await inject(anon, {"latency_ms": 300, "path": "/api/tokens"})
    finished: list[str] = []

    async def get(path: str) -> None:
        await client.get(path)
        finished.append(path)

    async with anyio.create_task_group() as group:
        group.start_soon(get, "/api/tokens")
        # Starts after the slow request is already sleeping; finishes first only if the loop is free.
        await anyio.wait_all_tasks_blocked()
        group.start_soon(get, "/api/gateway_groups")
    assert finished == ["/api/gateway_groups", "/api/tokens"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"[]", "no fault given"),
        (b'"503"', "must be a JSON object"),
        (b'{"count": 2}', "needs a status, a latency_ms, or both"),
        (b'{"status": 200}', "status must be an integer between 400 and 599"),
        (b'{"status": "503"}', "status must be an integer"),
        (b'{"status": true}', "status must be an integer"),
        (b'{"status": 503, "count": 0}', "count must be an integer >= 1"),
        (b'{"status": 503, "count": 1.5}', "count must be an integer >= 1"),
        (b'{"status": 429, "retry_after": -1}', "retry_after must be a non-negative integer"),
        (b'{"retry_after": 1}', "retry_after needs a status"),
        (b'{"latency_ms": -5}', "latency_ms must be a number"),
        (b'{"latency_ms": 600000}', "latency_ms must be a number"),
        (b'{"status": 503, "path": "api"}', "path must be a prefix starting with /"),
        (b'{"status": 503, "method": "BREW"}', "method must be one of"),
        (b'{"status": 503, "colour": "red"}', "unknown fault fields: colour"),
        (b'[{"status": 503}, {"status": 1}]', "status must be an integer"),
    ],
)
async def test_an_invalid_fault_is_400(anon: httpx.AsyncClient, body: bytes, message: str) -> None:
    response = await anon.post("/_sandbox/faults", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error_msg"]
    assert (await anon.get("/_sandbox/faults")).json() == []


async def rate_statuses(seed: int, n: int) -> list[int]:
    """Statuses of `n` requests to a fresh sandbox (seeded) failing 20% of POSTs with 503."""
    async with make_client(new_state(BOOTSTRAP, FakeClock(START), seed=seed), headers={"X-API-KEY": BOOTSTRAP}) as c:
        await inject(c, {"status": 503, "rate": 0.2, "method": "POST", "path": "/apisix/admin/services"})
        result = [(await c.post("/apisix/admin/services", json={"name": "s"})).status_code for _ in range(n)]
        assert (await c.get("/api/gateway_groups")).status_code == 200  # another route is spared
        (fault,) = (await c.get("/_sandbox/faults")).json()
        assert (fault["count"], fault["fired"]) == (None, result.count(503))  # stays until cleared
        effects = (await c.get("/_sandbox/effects", params={"by": "path"})).json()
        assert effects["counts"] == {"/apisix/admin/services": result.count(200)}
        return result


async def test_a_rate_fails_that_share_of_matching_requests_until_cleared() -> None:
    first = await rate_statuses(seed=7, n=400)
    assert set(first) == {200, 503}
    assert 0.14 < first.count(503) / len(first) < 0.26
    assert await rate_statuses(seed=7, n=400) == first  # a seed makes a run repeatable


async def test_a_rate_with_a_count_stops_after_that_many_hits(
    anon: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await inject(anon, {"status": 429, "retry_after": 2, "rate": 1, "count": 2})
    assert await statuses(client, 3) == [429, 429, 200]
    assert (await anon.get("/_sandbox/faults")).json() == []


async def test_a_fault_after_the_effect_loses_the_answer_not_the_write(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SandboxState
) -> None:
    await inject(anon, {"status": 503, "when": "after", "method": "POST"})
    response = await client.post("/apisix/admin/services", json={"name": "s"}, headers={"Idempotency-Key": "e:r:0"})
    assert response.status_code == 503
    assert response.json() == {"error_msg": "sandbox fault injected"}
    assert len(state.catalog.services) == 1
    (record,) = await recorded(anon)
    assert (record["status"], record["effect"], record["fault"]["when"]) == (503, True, "after")
    assert (await anon.get("/_sandbox/effects")).json()["counts"] == {"e:r:0": 1}


async def test_a_timeout_before_the_effect_delays_the_write(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await inject(anon, {"latency_ms": 100, "method": "POST"})
    started = time.perf_counter()
    assert (await client.post("/apisix/admin/services", json={"name": "s"})).status_code == 200
    assert time.perf_counter() - started >= 0.1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"status": 503, "rate": 0}', "rate must be a number in (0, 1]"),
        (b'{"status": 503, "rate": 1.5}', "rate must be a number in (0, 1]"),
        (b'{"status": 503, "rate": true}', "rate must be a number"),
        (b'{"status": 503, "count": null}', "count null (until cleared) needs a rate"),
        (b'{"status": 503, "when": "during"}', "when must be before or after"),
    ],
)
async def test_an_invalid_rate_or_phase_is_400(anon: httpx.AsyncClient, body: bytes, message: str) -> None:
    response = await anon.post("/_sandbox/faults", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error_msg"]
