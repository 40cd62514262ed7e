"""CODING's open API: `POST /open-api` with an Action; errors come back in the body with HTTP 200."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.support import FakeClock
from tests.worker.devtools.sandbox.support import BOOTSTRAP, START, create_token, recorded

pytestmark = pytest.mark.anyio

CURRENT_USER = {"Action": "DescribeCodingCurrentUser"}


def basic(user: str, password: str) -> str:
    """Return a Basic authorization value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {BOOTSTRAP}", f"bearer {BOOTSTRAP}", f"token {BOOTSTRAP}", basic("anyone", BOOTSTRAP)],
    ids=["bearer", "bearer-lowercase", "token", "basic"],
)
async def test_describe_current_user(anon: httpx.AsyncClient, authorization: str) -> None:
    response = await anon.post("/open-api", json=CURRENT_USER, headers={"Authorization": authorization})
    assert response.status_code == 200
    body = response.json()["Response"]
    assert set(body) == {"User", "RequestId"}
    assert body["User"]["GlobalKey"] == "admin"
    assert isinstance(body["User"]["Id"], int)
    assert isinstance(body["User"]["TeamId"], int)


async def test_the_action_may_come_in_the_query(anon: httpx.AsyncClient) -> None:
    response = await anon.post(
        "/open-api", params=CURRENT_USER, json={}, headers={"Authorization": f"Bearer {BOOTSTRAP}"}
    )
    assert "User" in response.json()["Response"]


async def test_sandbox_tokens_work_for_coding(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    created = await create_token(client, "coding")
    response = await anon.post("/open-api", json=CURRENT_USER, headers={"Authorization": f"Bearer {created['token']}"})
    assert "User" in response.json()["Response"]
    assert (await recorded(anon))[-1]["token_id"] == created["id"]


async def _error(anon: httpx.AsyncClient, **kwargs: Any) -> dict[str, Any]:
    response = await anon.post("/open-api", **kwargs)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()["Response"]
    assert set(body) == {"Error", "RequestId"}
    error: dict[str, Any] = body["Error"]
    assert set(error) == {"Code", "Message"}
    return error


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"json": CURRENT_USER}, "AuthFailure"),
        ({"json": CURRENT_USER, "headers": {"Authorization": "Bearer wrong"}}, "AuthFailure"),
        ({"json": CURRENT_USER, "headers": {"Authorization": basic("u", "wrong")}}, "AuthFailure"),
        ({"json": CURRENT_USER, "headers": {"Authorization": "Basic !!!not-base64"}}, "AuthFailure"),
        # CODING does not read API7's header.
        ({"json": CURRENT_USER, "headers": {"X-API-KEY": BOOTSTRAP}}, "AuthFailure"),
        ({"json": {"Action": "NoSuchAction"}, "headers": {"Authorization": f"Bearer {BOOTSTRAP}"}}, "InvalidAction"),
        ({"json": {"Action": 7}, "headers": {"Authorization": f"Bearer {BOOTSTRAP}"}}, "InvalidAction"),
        ({"json": {}, "headers": {"Authorization": f"Bearer {BOOTSTRAP}"}}, "MissingParameter"),
        ({"content": b"{not json", "headers": {"Authorization": f"Bearer {BOOTSTRAP}"}}, "InvalidParameter"),
        (
            {"json": ["DescribeCodingCurrentUser"], "headers": {"Authorization": f"Bearer {BOOTSTRAP}"}},
            "InvalidParameter",
        ),
    ],
)
async def test_errors_come_with_http_200(anon: httpx.AsyncClient, kwargs: dict[str, Any], code: str) -> None:
    error = await _error(anon, **kwargs)
    assert error["Code"] == code
    assert error["Message"]


async def test_an_expired_token_fails(anon: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await create_token(client, "coding", expires_at=int(START) + 10)
    clock.advance(10)
    error = await _error(anon, json=CURRENT_USER, headers={"Authorization": f"Bearer {created['token']}"})
    assert error == {"Code": "AuthFailure", "Message": "authentication failed: API key expired"}
