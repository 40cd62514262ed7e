"""The control API for gateway groups: adding groups, reading a group's whole state, seeding resources."""

from __future__ import annotations

import httpx
import pytest

from tests.worker.devtools.sandbox.support import GG, SERVICE, add_group, group_state

pytestmark = pytest.mark.anyio

A = "/apisix/admin"


async def test_a_fuzzy_search_can_pick_the_wrong_group_an_exact_name_cannot(rt: httpx.AsyncClient) -> None:
    await add_group(rt, "gg-prod", "prod")
    await add_group(rt, "gg-prod-eu", "prod-eu")
    listed = (await rt.get("/api/gateway_groups", params={"search": "prod"})).json()
    assert listed["total"] == 2
    # The newest first: a client taking list[0] gets prod-eu.
    assert [g["name"] for g in listed["list"]] == ["prod-eu", "prod"]
    exact = [g for g in listed["list"] if g["name"] == "prod"]
    assert [g["id"] for g in exact] == ["gg-prod"]


async def test_groups_page_like_every_list(rt: httpx.AsyncClient) -> None:
    for n in range(3):
        await add_group(rt, f"g{n}", f"group-{n}")
    first = (await rt.get("/api/gateway_groups", params={"page": 1, "page_size": 2})).json()
    second = (await rt.get("/api/gateway_groups", params={"page": 2, "page_size": 2})).json()
    assert first["total"] == second["total"] == 4
    ids = [g["id"] for g in first["list"] + second["list"]]
    assert sorted(ids) == ["default", "g0", "g1", "g2"]


async def test_adding_a_group_twice_or_a_bad_one_is_refused(rt: httpx.AsyncClient) -> None:
    await add_group(rt, "staging", "staging")
    again = await rt.post("/_sandbox/gateway_groups", json={"id": "staging", "name": "other"})
    assert again.status_code == 409
    bad = await rt.post("/_sandbox/gateway_groups", json={"id": "a b", "name": "x"})
    assert bad.status_code == 400


async def test_seeded_resources_are_marked_by_who_made_them(rt: httpx.AsyncClient) -> None:
    by_adc = {"kind": "services", "id": "adc-made", "value": {**SERVICE, "name": "adc-made"}, "made_by": "adc"}
    by_hand = {"kind": "services", "id": "hand-made", "value": {**SERVICE, "name": "hand-made"}}
    assert (await rt.post("/_sandbox/gateway_groups/default/resources", json=by_adc)).status_code == 201
    assert (await rt.post("/_sandbox/gateway_groups/default/resources", json=by_hand)).status_code == 201
    services = (await group_state(rt))["resources"]["services"]
    assert services["adc-made"]["labels"] == {"team": "pay", "managed-by": "adc"}
    assert services["hand-made"]["labels"] == {"team": "pay"}
    # They are what the admin API serves, with the same defaults, and seeding is neither recorded nor an effect.
    listed = (await rt.get(f"{A}/services", params=GG)).json()
    assert {s["id"] for s in listed["list"]} == {"adc-made", "hand-made"}
    assert services["hand-made"]["upstream"]["type"] == "roundrobin"
    assert [r["path"] for r in (await rt.get("/_sandbox/requests")).json()] == [f"{A}/services"]
    assert (await rt.get("/_sandbox/effects")).json()["total"] == 0


async def test_seeding_a_credential_needs_its_consumer(rt: httpx.AsyncClient) -> None:
    seed = {"kind": "credentials", "id": "c1", "value": {"plugins": {"key-auth": {"key": "k"}}}, "consumer": "ci"}
    assert (await rt.post("/_sandbox/gateway_groups/default/resources", json=seed)).status_code == 404
    consumer = {"kind": "consumers", "id": "ci", "value": {"username": "ci"}}
    await rt.post("/_sandbox/gateway_groups/default/resources", json=consumer)
    created = await rt.post("/_sandbox/gateway_groups/default/resources", json=seed)
    assert created.status_code == 201
    assert created.json()["plugins"]["key-auth"]["key"].startswith("sha256:")
    assert "ci/c1" in (await group_state(rt))["resources"]["credentials"]


async def test_seeding_a_named_upstream_needs_its_service(rt: httpx.AsyncClient) -> None:
    nodes = [{"host": "canary.internal", "port": 80, "weight": 1}]
    seed = {"kind": "service_upstreams", "id": "u1", "value": {"name": "canary", "nodes": nodes}}
    missing = await rt.post("/_sandbox/gateway_groups/default/resources", json=seed)
    assert missing.json() == {"error_msg": "service is required for kind service_upstreams"}
    unknown = await rt.post("/_sandbox/gateway_groups/default/resources", json={**seed, "service": "billing"})
    assert unknown.status_code == 404
    service = {"kind": "services", "id": "billing", "value": {"name": "billing"}}
    await rt.post("/_sandbox/gateway_groups/default/resources", json=service)
    created = await rt.post("/_sandbox/gateway_groups/default/resources", json={**seed, "service": "billing"})
    assert created.status_code == 201
    assert (await group_state(rt))["resources"]["service_upstreams"]["billing/u1"]["name"] == "canary"


@pytest.mark.parametrize(
    "seed",
    [
        {"kind": "widgets", "id": "w", "value": {}},
        {"kind": "services", "id": "s", "value": {"desc": "no name"}},
        {"kind": "services", "id": "s", "value": SERVICE, "made_by": "robot"},
        {"kind": "services", "id": "s", "value": SERVICE, "extra": 1},
        {"kind": "services", "id": "s", "value": "not an object"},
        {"kind": "credentials", "id": "c", "value": {"plugins": {"key-auth": {}}}},
    ],
)
async def test_bad_seeds_are_refused_and_store_nothing(rt: httpx.AsyncClient, seed: dict[str, object]) -> None:
    response = await rt.post("/_sandbox/gateway_groups/default/resources", json=seed)
    assert response.status_code == 400
    assert not any((await group_state(rt))["resources"].values())


async def test_the_state_of_an_unknown_group_is_404(rt: httpx.AsyncClient) -> None:
    assert (await rt.get("/_sandbox/gateway_groups/nope")).status_code == 404


async def test_in_3_2_only_per_group_kinds_are_seeded(client: httpx.AsyncClient) -> None:
    service = {"kind": "services", "id": "s", "value": SERVICE}
    assert (await client.post("/_sandbox/gateway_groups/default/resources", json=service)).status_code == 400
    consumer = {"kind": "consumers", "id": "ci_bot", "value": {"username": "ci_bot"}, "made_by": "adc"}
    assert (await client.post("/_sandbox/gateway_groups/default/resources", json=consumer)).status_code == 201
    got = (await client.get(f"{A}/consumers/ci_bot")).json()["value"]
    assert got["labels"] == {"managed-by": "adc"}
