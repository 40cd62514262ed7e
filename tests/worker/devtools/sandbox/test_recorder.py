"""Recorded requests: what was asked and answered, and never a secret."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.worker.devtools.sandbox.support import BOOTSTRAP, START, create_token, recorded
from worker.devtools.sandbox.recorder import Recorder, RequestRecord, is_secret_name
from worker.devtools.sandbox.state import SandboxState

pytestmark = pytest.mark.anyio


def bootstrap_id(state: SandboxState) -> str:
    """Return the id of the bootstrap token."""
    (record,) = [t for t in state.tokens.all() if t.name == "bootstrap"]
    return record.id


async def test_a_request_is_recorded_with_its_fields(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SandboxState
) -> None:
    await client.post(
        "/apisix/admin/services",
        params={"a": "1", "b": ["2", "3"]},
        json={"name": "billing"},
        headers={"Idempotency-Key": "key-1", "User-Agent": "relay-test"},
    )
    (record,) = await recorded(anon)
    assert record["method"] == "POST"
    assert record["path"] == "/apisix/admin/services"
    assert record["query"] == {"a": "1", "b": ["2", "3"]}
    assert record["json"] == {"name": "billing"}
    assert record["authenticated"] is True
    assert record["token_id"] == bootstrap_id(state)
    assert record["idempotency_key"] == "key-1"
    assert record["status"] == 200
    assert record["time"] == START
    assert record["headers"]["user-agent"] == "relay-test"
    assert record["fault"] is None
    assert record["effect"] is True


async def test_odd_requests_are_recorded_too(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await client.get("/no/such/route")
    await client.delete("/api/gateway_groups")
    await client.post("/api/tokens", content=b"{broken", headers={"Content-Type": "application/json"})
    records = await recorded(anon)
    assert [(r["path"], r["status"], r["json"]) for r in records] == [
        ("/no/such/route", 404, None),
        ("/api/gateway_groups", 405, None),
        ("/api/tokens", 400, None),
    ]


async def test_the_token_id_is_the_one_that_authenticated(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    created = await create_token(client, "ci")
    await anon.get("/api/tokens", headers={"X-API-KEY": created["token"]})
    assert (await recorded(anon))[-1]["token_id"] == created["id"]


async def test_no_secret_is_ever_recorded(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    created = await create_token(client, "ci")
    regenerated = (
        await client.put(
            f"/api/tokens/{created['id']}/regenerate", json={"expires_at": 0}, headers={"Idempotency-Key": "r"}
        )
    ).json()["value"]
    secrets = [BOOTSTRAP, created["token"], regenerated["token"], "wrong-secret-value"]
    basic = base64.b64encode(f"user:{BOOTSTRAP}".encode()).decode()
    await anon.get("/api/tokens", headers={"Cookie": f"X-API-KEY={regenerated['token']}"})
    await anon.get("/api/tokens", params={"api_key": BOOTSTRAP})
    await anon.get("/api/tokens", headers={"X-API-KEY": "wrong-secret-value"})
    await anon.post(
        "/open-api", json={"Action": "DescribeCodingCurrentUser"}, headers={"Authorization": f"Basic {basic}"}
    )
    await anon.post("/open-api", json={"Action": "X"}, headers={"Authorization": f"Bearer {BOOTSTRAP}"})
    # A secret in a request body is masked as well.
    await client.post("/apisix/admin/services", json={"name": "s", "plugins": {"x": {"token": BOOTSTRAP}}})

    dump = json.dumps(await recorded(anon))
    for secret in [*secrets, basic]:
        assert secret not in dump
    records = await recorded(anon)
    assert records[-1]["json"]["plugins"]["x"]["token"] == "[redacted]"
    assert any(r["query"].get("api_key") == "[redacted]" for r in records)
    for r in records:
        assert all(v == "[redacted]" for h, v in r["headers"].items() if h in {"x-api-key", "cookie", "authorization"})


async def test_control_requests_are_not_recorded(anon: httpx.AsyncClient) -> None:
    await anon.get("/_sandbox/faults")
    await anon.get("/_sandbox/health")
    assert await recorded(anon) == []


async def test_clearing_and_filtering(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await client.get("/api/tokens")
    await client.get("/apisix/admin/services")
    only = (await anon.get("/_sandbox/requests", params={"path": "/apisix/"})).json()
    assert [r["path"] for r in only] == ["/apisix/admin/services"]
    assert (await anon.delete("/_sandbox/requests")).json() == {"deleted": 2}
    assert await recorded(anon) == []


def test_the_record_is_bounded() -> None:
    recorder = Recorder(limit=3)
    for index in range(5):
        recorder.add(RequestRecord("GET", f"/{index}", {}, {}, None, False, None, None, float(index)))
    assert [r["path"] for r in recorder.public()] == ["/2", "/3", "/4"]


SECRET_VALUE = "s3cr3t-value-never-recorded"


@pytest.mark.parametrize(
    "name",
    ["X-API-KEY", "Authorization", "Proxy-Authorization", "Cookie", "x-auth-token", "X-Client-Secret", "X-Password"],
)
async def test_a_credential_header_is_masked_by_its_name(anon: httpx.AsyncClient, name: str) -> None:
    await anon.get("/api/gateway_groups", headers={name: SECRET_VALUE, "X-Trace": "t-1"})
    (record,) = await recorded(anon)
    assert record["headers"][name.lower()] == "[redacted]"
    assert record["headers"]["x-trace"] == "t-1"
    assert SECRET_VALUE not in json.dumps(record)


@pytest.mark.parametrize("name", ["api_key", "access_token", "client_secret", "password", "X-Api-Key", "session_key"])
async def test_a_credential_query_field_is_masked(anon: httpx.AsyncClient, name: str) -> None:
    await anon.get("/api/gateway_groups", params={name: SECRET_VALUE, "page": "2"})
    (record,) = await recorded(anon)
    assert record["query"] == {name: "[redacted]", "page": "2"}


@pytest.mark.parametrize(
    "body",
    [
        {"password": SECRET_VALUE},
        {"client_secret": SECRET_VALUE},
        {"credentials": {"user": "u", "pass": SECRET_VALUE}},
        {"plugins": {"key-auth": {"key": SECRET_VALUE}}},
        {"plugins": {"jwt-auth": {"private_key": SECRET_VALUE, "algorithm": "RS256"}}},
        {"upstream": {"tls": {"client_cert_KEY": SECRET_VALUE}}},
        {"nodes": [{"host": "h"}, {"authToken": SECRET_VALUE}]},
        {"headers": {"Authorization": f"Bearer {SECRET_VALUE}"}},
        {"cookies": [{"Cookie": SECRET_VALUE}]},
    ],
    ids=["password", "client_secret", "credentials", "key", "private_key", "cert_KEY", "list", "authz", "cookie"],
)
async def test_a_credential_json_field_is_masked_at_any_depth(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    await client.post("/apisix/admin/services", json={"name": "kept", **body})
    (record,) = await recorded(anon)
    assert SECRET_VALUE not in json.dumps(record)
    assert "[redacted]" in json.dumps(record["json"])
    assert record["json"]["name"] == "kept"


def test_idempotency_key_is_not_a_credential() -> None:
    assert not is_secret_name("Idempotency-Key")
    assert [n for n in ("token", "KEY", "passwd", "x-cookie-id", "user_name", "desc") if is_secret_name(n)] == [
        "token",
        "KEY",
        "passwd",
        "x-cookie-id",
    ]
