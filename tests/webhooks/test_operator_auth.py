"""The metrics token: one rule (Bearer, or Basic with it as password) for /metrics and the status page alike."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from webhooks.app import create_app
from webhooks.operator_auth import presented_token
from worker.config import Settings

TOKEN = "metrics-token-0123456789"
ROUTES = ["/metrics", "/status", "/status.json"]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# (Authorization header, accepted)
SCHEMES = [
    (None, False),
    ("", False),
    (f"Bearer {TOKEN}", True),
    (f"bearer {TOKEN}", True),
    (f"Bearer  {TOKEN} ", True),
    (basic("prometheus", TOKEN), True),
    (basic("", TOKEN), True),
    (f"Bearer {TOKEN[:-1]}", False),
    (f"Bearer {TOKEN}x", False),
    (basic(TOKEN, "wrong"), False),  # the token is the password, not the user name
    (f"Token {TOKEN}", False),
    (TOKEN, False),
    ("Basic !!!", False),
    ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), False),
]


@pytest.fixture
def client(write_config: Callable[[dict[str, Any]], Settings], redis_url: str) -> Iterator[TestClient]:
    settings = write_config({"redis_url": redis_url, "receiver": {"metrics_token": TOKEN}})
    with TestClient(create_app(settings, redis_url=redis_url), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(("authorization", "accepted"), SCHEMES)
def test_every_operator_route_takes_the_token_the_same_ways(
    client: TestClient, authorization: str | None, accepted: bool
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}

    answers = {route: client.get(route, headers=headers) for route in ROUTES}

    assert {route: answer.status_code for route, answer in answers.items()} == dict.fromkeys(
        ROUTES, 200 if accepted else 401
    )
    for answer in answers.values():
        if not accepted:
            assert answer.headers["www-authenticate"] == 'Basic realm="relay"'
            assert "receiver.metrics_token" in answer.json()["error"]
            assert TOKEN not in answer.text


@pytest.mark.parametrize(
    ("authorization", "token"),
    [("Bearer abc", "abc"), ("BEARER  abc ", "abc"), (basic("u", "p:q"), "p:q"), ("Digest abc", None), ("", None)],
)
def test_presented_token(authorization: str, token: str | None) -> None:
    assert presented_token(authorization) == token


def test_without_a_token_the_operator_routes_are_open(
    write_config: Callable[[dict[str, Any]], Settings], redis_url: str
) -> None:
    settings = write_config({"redis_url": redis_url})
    with TestClient(create_app(settings, redis_url=redis_url)) as test_client:
        assert [test_client.get(route).status_code for route in ROUTES] == [200, 200, 200]
