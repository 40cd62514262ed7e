"""Idempotency-Key: a repeated write answers as the first one did, with no second effect."""

from __future__ import annotations

import anyio
import httpx
import pytest

from tests.worker.sandbox.support import UPSTREAM, recorded
from worker.sandbox.state import SandboxState

pytestmark = pytest.mark.anyio

SERVICE = {"name": "billing", "upstream": UPSTREAM}


def keyed(key: str) -> dict[str, str]:
    """Return the Idempotency-Key header."""
    return {"Idempotency-Key": key}


async def test_a_repeated_create_has_one_effect(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SandboxState
) -> None:
    first = await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("k1"))
    second = await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("k1"))
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(state.catalog.services) == 1
    records = await recorded(anon)
    assert [(r["idempotency_key"], r["replayed"]) for r in records] == [("k1", False), ("k1", True)]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/tokens", {"name": "ci", "expires_at": 0}),
        ("PUT", "/apisix/admin/services/svc", SERVICE),
        ("PATCH", "/apisix/admin/services/svc", {"desc": "x"}),
        ("DELETE", "/apisix/admin/services/svc", None),
    ],
)
async def test_each_write_method_replays(
    client: httpx.AsyncClient, state: SandboxState, method: str, path: str, body: dict[str, object] | None
) -> None:
    await client.put("/apisix/admin/services/svc", json=SERVICE)
    first = await client.request(method, path, json=body, headers=keyed("same"))
    before = (len(state.tokens.all()), {k: v.updated_at for k, v in state.catalog.services.items()})
    second = await client.request(method, path, json=body, headers=keyed("same"))
    after = (len(state.tokens.all()), {k: v.updated_at for k, v in state.catalog.services.items()})
    assert (second.status_code, second.content) == (first.status_code, first.content)
    assert after == before


async def test_a_replayed_token_create_returns_the_same_token(client: httpx.AsyncClient, state: SandboxState) -> None:
    body = {"name": "ci", "expires_at": 0}
    first = await client.post("/api/tokens", json=body, headers=keyed("create-ci"))
    second = await client.post("/api/tokens", json=body, headers=keyed("create-ci"))
    assert second.json() == first.json()
    assert len(state.tokens.all()) == 2


async def test_an_error_answer_is_replayed_too(client: httpx.AsyncClient) -> None:
    first = await client.post("/api/tokens", json={"name": ""}, headers=keyed("bad"))
    second = await client.post("/api/tokens", json={"name": ""}, headers=keyed("bad"))
    assert first.status_code == second.status_code == 400
    assert second.json() == first.json()


async def test_keys_are_scoped_by_method_and_path(client: httpx.AsyncClient, state: SandboxState) -> None:
    await client.put("/apisix/admin/services/a", json=SERVICE, headers=keyed("k"))
    await client.put("/apisix/admin/services/b", json=SERVICE, headers=keyed("k"))
    assert set(state.catalog.services) == {"a", "b"}


async def test_a_key_reused_with_another_body_is_422(client: httpx.AsyncClient, state: SandboxState) -> None:
    await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("k"))
    response = await client.post("/apisix/admin/services", json={**SERVICE, "name": "other"}, headers=keyed("k"))
    assert response.status_code == 422
    assert "different request body" in response.json()["error_msg"]
    assert len(state.catalog.services) == 1


async def test_the_same_body_encoded_differently_still_replays(client: httpx.AsyncClient, state: SandboxState) -> None:
    headers = {**keyed("k"), "Content-Type": "application/json"}
    await client.post("/api/tokens", content=b'{"name": "ci", "expires_at": 0}', headers=headers)
    second = await client.post("/api/tokens", content=b'{"expires_at":0,"name":"ci"}', headers=headers)
    assert second.headers["idempotent-replayed"] == "true"


async def test_reads_are_not_cached(client: httpx.AsyncClient) -> None:
    first = await client.get("/apisix/admin/services", headers=keyed("k"))
    await client.post("/apisix/admin/services", json=SERVICE)
    second = await client.get("/apisix/admin/services", headers=keyed("k"))
    assert (first.json()["total"], second.json()["total"]) == (0, 1)


async def test_a_faulted_attempt_does_not_use_up_the_key(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SandboxState
) -> None:
    await anon.post("/_sandbox/faults", json={"status": 503, "count": 1})
    failed = await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("retry-me"))
    retried = await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("retry-me"))
    assert (failed.status_code, retried.status_code) == (503, 200)
    assert "idempotent-replayed" not in retried.headers
    assert len(state.catalog.services) == 1


async def test_an_unauthenticated_attempt_does_not_use_up_the_key(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SandboxState
) -> None:
    refused = await anon.post("/apisix/admin/services", json=SERVICE, headers=keyed("k"))
    accepted = await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("k"))
    assert (refused.status_code, accepted.status_code) == (401, 200)
    assert len(state.catalog.services) == 1


async def test_concurrent_repeats_have_one_effect(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SandboxState
) -> None:
    # The first request is held back by latency so the repeats overlap with it.
    await anon.post("/_sandbox/faults", json={"latency_ms": 50, "count": 1})
    responses: list[httpx.Response] = []

    async def send() -> None:
        responses.append(await client.post("/apisix/admin/services", json=SERVICE, headers=keyed("race")))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(send)
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert len(state.catalog.services) == 1
    assert sum(not r["replayed"] for r in await recorded(anon)) == 1
