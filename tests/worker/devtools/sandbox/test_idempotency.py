"""Idempotency-Key is recorded but not honoured: a repeated write applies twice, as on API7 itself."""

from __future__ import annotations

import anyio
import httpx
import pytest

from tests.support import FakeClock
from tests.worker.devtools.sandbox.support import UPSTREAM, recorded
from worker.devtools.sandbox.state import SandboxState

pytestmark = pytest.mark.anyio

SERVICE = {"name": "billing", "upstream": UPSTREAM}


def keyed(key: str) -> dict[str, str]:
    """Return the Idempotency-Key header."""
    return {"Idempotency-Key": key}


async def test_two_posts_with_one_key_have_two_effects(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SandboxState
) -> None:
    first = await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("k1"))
    second = await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("k1"))
    assert first.status_code == second.status_code == 200
    assert first.json()["value"]["id"] != second.json()["value"]["id"]
    assert "idempotent-replayed" not in second.headers
    assert len(state.catalog.services) == 2
    records = await recorded(anon)
    assert [(r["idempotency_key"], r["effect"]) for r in records] == [("k1", True), ("k1", True)]
    effects = (await anon.get("/_sandbox/effects")).json()
    assert (effects["counts"], effects["duplicates"]) == ({"k1": 2}, {"k1": 2})


async def test_a_repeated_token_create_is_refused_as_a_taken_name(client: httpx.AsyncClient) -> None:
    # Not the first answer again: the second create runs, and meets the first one's name.
    body = {"name": "ci", "expires_at": 0}
    first = await client.post("/api/tokens", json=body, headers=keyed("create-ci"))
    second = await client.post("/api/tokens", json=body, headers=keyed("create-ci"))
    assert (first.status_code, second.status_code) == (200, 400)
    assert "token" not in second.json()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/apisix/admin/services/svc", SERVICE),
        ("PATCH", "/apisix/admin/services/svc", {"desc": "x"}),
    ],
)
async def test_a_repeated_update_is_applied_again(
    client: httpx.AsyncClient, state: SandboxState, clock: FakeClock, method: str, path: str, body: dict[str, object]
) -> None:
    await client.put("/apisix/admin/services/svc", json=SERVICE)
    await client.request(method, path, json=body, headers=keyed("same"))
    before = state.catalog.services["svc"].updated_at
    clock.advance(5)
    await client.request(method, path, json=body, headers=keyed("same"))
    assert state.catalog.services["svc"].updated_at == before + 5


async def test_a_repeated_delete_is_a_404_the_second_time(client: httpx.AsyncClient) -> None:
    await client.put("/apisix/admin/services/svc", json=SERVICE)
    first = await client.delete("/apisix/admin/services/svc", headers=keyed("d"))
    second = await client.delete("/apisix/admin/services/svc", headers=keyed("d"))
    assert (first.status_code, second.status_code) == (200, 404)


async def test_a_key_reused_with_another_body_is_just_another_write(
    client: httpx.AsyncClient, state: SandboxState
) -> None:
    await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("k"))
    response = await client.post("/apisix/admin/services", json={**SERVICE, "name": "other"}, headers=keyed("k"))
    assert response.status_code == 200
    assert sorted(s.config["name"] for s in state.catalog.services.values()) == ["billing", "other"]


async def test_concurrent_repeats_each_take_effect(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SandboxState
) -> None:
    await anon.post("/_sandbox/faults", json={"latency_ms": 50, "count": 1})
    statuses: list[int] = []

    async def send() -> None:
        statuses.append((await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("race"))).status_code)

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(send)
    assert statuses == [200] * 5
    assert len(state.catalog.services) == 5
    assert (await anon.get("/_sandbox/effects")).json()["counts"] == {"race": 5}
