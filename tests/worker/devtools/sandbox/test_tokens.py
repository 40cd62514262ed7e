"""Token operations, under both path prefixes: secrets shown once, regenerate, expiry, listing."""

from __future__ import annotations

import httpx
import pytest

from tests.support import FakeClock
from tests.worker.devtools.sandbox.support import BOOTSTRAP, START, TOKEN_PREFIXES, create_token
from worker.devtools.sandbox.state import SandboxState
from worker.devtools.sandbox.tokens import hash_secret

pytestmark = pytest.mark.anyio


@pytest.fixture(params=TOKEN_PREFIXES)
def prefix(request: pytest.FixtureRequest) -> str:
    """Run a test under /api/settings/tokens and under /api/tokens."""
    value: str = request.param
    return value


def key(secret: str) -> dict[str, str]:
    """Return the X-API-KEY header for a secret."""
    return {"X-API-KEY": secret}


async def test_create_returns_the_secret_once(client: httpx.AsyncClient, prefix: str) -> None:
    created = await create_token(client, "ci", expires_at=int(START) + 3600, prefix=prefix)
    assert created["token"].startswith("a7ee-")
    assert created["name"] == "ci"
    assert created["expires_at"] == int(START) + 3600
    assert created["created_at"] == created["updated_at"] == int(START)
    assert created["user_name"] == "admin"

    fetched = (await client.get(f"{prefix}/{created['id']}")).json()["value"]
    listed = (await client.get(prefix)).json()["list"]
    assert "token" not in fetched
    assert all("token" not in item for item in listed)
    assert fetched == {k: v for k, v in created.items() if k != "token"}


async def test_the_new_secret_authenticates(anon: httpx.AsyncClient, client: httpx.AsyncClient, prefix: str) -> None:
    created = await create_token(client, "ci", prefix=prefix)
    response = await anon.get(prefix, headers=key(created["token"]))
    assert response.status_code == 200


async def test_secrets_are_stored_only_as_hashes(client: httpx.AsyncClient, state: SandboxState) -> None:
    created = await create_token(client, "ci")
    record = state.tokens.get(created["id"])
    assert record.secret_hash == hash_secret(created["token"])
    assert created["token"] not in repr(vars(state.tokens))
    assert BOOTSTRAP not in repr(vars(state.tokens))


async def test_bootstrap_is_a_token_record_that_never_expires(
    client: httpx.AsyncClient, clock: FakeClock, prefix: str
) -> None:
    listed = (await client.get(prefix)).json()
    assert listed["total"] == 1
    (bootstrap,) = listed["list"]
    assert bootstrap["name"] == "bootstrap"
    assert bootstrap["expires_at"] == 0
    clock.advance(20 * 365 * 86400)
    assert (await client.get(prefix)).status_code == 200


async def test_both_prefixes_serve_the_same_tokens(client: httpx.AsyncClient) -> None:
    created = await create_token(client, "shared", prefix="/api/tokens")
    response = await client.get(f"/api/settings/tokens/{created['id']}")
    assert response.json()["value"]["name"] == "shared"


async def test_rename(client: httpx.AsyncClient, clock: FakeClock, prefix: str) -> None:
    created = await create_token(client, "old", prefix=prefix)
    clock.advance(5)
    response = await client.put(f"{prefix}/{created['id']}", json={"name": "new"})
    assert response.status_code == 200
    value = response.json()["value"]
    assert value["name"] == "new"
    assert value["updated_at"] == int(START) + 5
    assert "token" not in value
    # Renaming keeps the secret.
    assert (await client.get(prefix, headers=key(created["token"]))).status_code == 200


async def test_names_are_unique(client: httpx.AsyncClient, prefix: str) -> None:
    await create_token(client, "taken", prefix=prefix)
    other = await create_token(client, "other", prefix=prefix)
    duplicate = await client.post(prefix, json={"name": "taken", "expires_at": 0})
    rename = await client.put(f"{prefix}/{other['id']}", json={"name": "taken"})
    assert duplicate.status_code == rename.status_code == 400
    assert "already exists" in duplicate.json()["error_msg"]
    exists = await client.get(f"{prefix}/check_name", params={"name": "taken"})
    free = await client.get(f"{prefix}/check_name", params={"name": "free"})
    assert exists.json() == {"value": {"exist": True}}
    assert free.json() == {"value": {"exist": False}}


async def test_delete(anon: httpx.AsyncClient, client: httpx.AsyncClient, prefix: str) -> None:
    created = await create_token(client, "gone", prefix=prefix)
    response = await client.delete(f"{prefix}/{created['id']}")
    assert response.status_code == 200
    assert response.json()["value"]["id"] == created["id"]
    assert (await client.get(f"{prefix}/{created['id']}")).status_code == 404
    assert (await anon.get(prefix, headers=key(created["token"]))).status_code == 401


async def test_regenerate_invalidates_the_old_secret_at_once(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock, prefix: str
) -> None:
    created = await create_token(client, "rotating", expires_at=int(START) + 60, prefix=prefix)
    clock.advance(10)
    response = await client.put(f"{prefix}/{created['id']}/regenerate", json={"expires_at": int(START) + 7200})
    assert response.status_code == 200
    value = response.json()["value"]
    assert value["id"] == created["id"]
    assert value["token"] != created["token"]
    assert value["expires_at"] == int(START) + 7200
    assert value["updated_at"] == int(START) + 10

    old = await anon.get(prefix, headers=key(created["token"]))
    new = await anon.get(prefix, headers=key(value["token"]))
    assert old.status_code == 401
    assert new.status_code == 200
    # Shown once: reading the token again gives no secret.
    assert "token" not in (await client.get(f"{prefix}/{created['id']}")).json()["value"]


async def test_regenerating_the_bootstrap_token_retires_the_bootstrap_secret(
    client: httpx.AsyncClient, prefix: str
) -> None:
    (bootstrap,) = (await client.get(prefix)).json()["list"]
    response = await client.put(f"{prefix}/{bootstrap['id']}/regenerate", json={"expires_at": 0})
    assert response.status_code == 200
    assert (await client.get(prefix)).status_code == 401
    assert (await client.get(prefix, headers=key(response.json()["value"]["token"]))).status_code == 200


async def test_an_expired_secret_gets_401(anon: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await create_token(client, "short", expires_at=int(START) + 60)
    clock.advance(59)
    assert (await anon.get("/api/tokens", headers=key(created["token"]))).status_code == 200
    clock.advance(1)
    response = await anon.get("/api/tokens", headers=key(created["token"]))
    assert response.status_code == 401
    assert response.json() == {"error_msg": "API key expired"}


async def test_expired_tokens_can_still_be_listed_and_regenerated(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = await create_token(client, "lapsed", expires_at=int(START) + 60)
    clock.advance(3600)
    listed = (await client.get("/api/tokens", params={"search": "lapsed"})).json()
    assert listed["list"][0]["expires_at"] == int(START) + 60
    response = await client.put(f"/api/tokens/{created['id']}/regenerate", json={"expires_at": 0})
    assert (await anon.get("/api/tokens", headers=key(response.json()["value"]["token"]))).status_code == 200


@pytest.mark.parametrize("expires_at", [int(START), int(START) - 1, 1])
async def test_expiry_must_be_in_the_future(client: httpx.AsyncClient, expires_at: int) -> None:
    response = await client.post("/api/tokens", json={"name": "past", "expires_at": expires_at})
    assert response.status_code == 400
    assert "future" in response.json()["error_msg"]


async def test_last_used_at_follows_use(anon: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await create_token(client, "used")
    assert created["last_used_at"] == 0
    clock.advance(30)
    await anon.get("/api/tokens", headers=key(created["token"]))
    value = (await client.get(f"/api/tokens/{created['id']}")).json()["value"]
    assert value["last_used_at"] == int(START) + 30


async def _make_tokens(client: httpx.AsyncClient, clock: FakeClock, prefix: str) -> None:
    # Bootstrap was created at START; these follow one second apart, expiring in reverse order.
    for index, name in enumerate(["alpha", "beta", "gamma", "delta"], start=1):
        clock.advance(1)
        await create_token(client, name, expires_at=int(START) + 1000 - index, prefix=prefix)


@pytest.mark.parametrize(
    ("params", "names", "total"),
    [
        ({}, ["delta", "gamma", "beta", "alpha", "bootstrap"], 5),
        ({"direction": "asc"}, ["bootstrap", "alpha", "beta", "gamma", "delta"], 5),
        ({"page_size": 2}, ["delta", "gamma"], 5),
        ({"page": 2, "page_size": 2}, ["beta", "alpha"], 5),
        ({"page": 3, "page_size": 2}, ["bootstrap"], 5),
        ({"page": 9, "page_size": 2}, [], 5),
        ({"order_by": "expires_at", "direction": "asc", "search": "ta"}, ["delta", "beta"], 2),
        ({"search": "GAM"}, ["gamma"], 1),
        ({"order_by": "updated_at", "direction": "desc", "page_size": 1}, ["delta"], 5),
    ],
)
async def test_list_paging_ordering_and_search(
    client: httpx.AsyncClient, clock: FakeClock, prefix: str, params: dict[str, str | int], names: list[str], total: int
) -> None:
    await _make_tokens(client, clock, prefix)
    response = await client.get(prefix, params=params)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"total", "list"}
    assert [item["name"] for item in body["list"]] == names
    assert body["total"] == total


async def test_unknown_token_is_404(client: httpx.AsyncClient, prefix: str) -> None:
    for response in [
        await client.get(f"{prefix}/no-such-token"),
        await client.put(f"{prefix}/no-such-token", json={"name": "x"}),
        await client.delete(f"{prefix}/no-such-token"),
        await client.put(f"{prefix}/no-such-token/regenerate", json={"expires_at": 0}),
    ]:
        assert response.status_code == 404
        assert response.json() == {"error_msg": "token not found: no-such-token"}
