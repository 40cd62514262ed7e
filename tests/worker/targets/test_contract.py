"""Contract: every API7 request Relay's clients make follows API7's own OpenAPI description (openapi-core).

The fake answers are checked too, so the unit tests' idea of API7 cannot drift from the description either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.contract.openapi import ContractTransport, openapi, request_errors, response_errors
from tests.worker.targets.api7_client import Api7Client
from tests.worker.targets.helpers import TOKEN, MutableTokens
from worker.config import TargetConfig
from worker.targets import TargetClient

NOW = 1_760_000_000
TOKEN_VALUE = {
    "id": "tok1",
    "name": "relay-prod",
    "created_at": NOW,
    "updated_at": NOW,
    "expires_at": NOW + 86400,
    "user_id": "u1",
    "user_name": "relay-bot",
    "last_used_at": 0,
}
UPSTREAM = {"nodes": [{"host": "10.0.0.1", "port": 8080, "weight": 100}]}
SERVICE = {"id": "s1", "name": "orders", "upstream": UPSTREAM}
GROUP = {"id": "default", "name": "default"}


def _fake_tokens(method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    if path.endswith("/check_name"):
        return httpx.Response(200, json={"value": {"exist": False}})
    if path.endswith("/regenerate") or method == "POST":
        return httpx.Response(200, json={"value": {**TOKEN_VALUE, **body, "token": "a7ee-new"}})
    if method == "GET" and path.rstrip("/").endswith("tokens"):
        return httpx.Response(200, json={"total": 1, "list": [TOKEN_VALUE]})
    return httpx.Response(200, json={"value": {**TOKEN_VALUE, **body}})


def _fake_gateway(method: str, path: str, body: dict[str, Any]) -> httpx.Response | None:
    if path == "/api/gateway_groups":
        return httpx.Response(200, json={"total": 1, "list": [GROUP]})
    if path.startswith("/api/gateway_groups/") and path.endswith("/services"):
        return httpx.Response(200, json={"total": 1, "list": [SERVICE]})
    if path.startswith("/api/gateway_groups/"):
        return httpx.Response(200, json={"value": GROUP})
    if path == "/apisix/admin/services" and method == "GET":
        return httpx.Response(200, json={"total": 1, "list": [SERVICE]})
    if path.startswith("/apisix/admin/services"):
        return httpx.Response(200, json={"value": {**SERVICE, **body}, "key": "/apisix/services/s1"})
    if path == "/api/services/publish":
        return httpx.Response(200, json={"value": {"gateway_group_id": "default", "services": []}})
    return None


def fake_api7(request: httpx.Request) -> httpx.Response:
    """Plausible API7 answers, shaped as the description documents them."""
    path, method = request.url.path, request.method
    body = json.loads(request.content) if request.content else {}
    if path.endswith("/regenerate") or path.startswith(("/api/settings/tokens", "/api/tokens")):
        return _fake_tokens(method, path, body)
    answer = _fake_gateway(method, path, body)
    return answer or httpx.Response(404, json={"error_msg": f"no fake for {method} {path}"})


def client_over(transport: ContractTransport, **config: Any) -> Api7Client:
    target = TargetConfig.model_validate({"kind": "api7", "base_url": "https://api7.test:7443", **config})
    return Api7Client(TargetClient("prod", target, MutableTokens(), transport=transport), page_size=50)


Operation = Callable[[Api7Client], object]

OPERATIONS: dict[str, Operation] = {
    "create token": lambda c: c.tokens.create("relay-prod", NOW + 86400, idempotency_key="e:r:0"),
    "create never-expiring token": lambda c: c.tokens.create("relay-forever", 0),
    "list tokens": lambda c: list(c.tokens.list(search="relay", order_by="expires_at", direction="asc")),
    "find token": lambda c: c.tokens.find("relay-prod"),
    "check token name": lambda c: c.tokens.name_exists("relay-prod"),
    "get token": lambda c: c.tokens.get("tok1"),
    "rename token": lambda c: c.tokens.update("tok1", "relay-prod-2"),
    "delete token": lambda c: c.tokens.delete("tok1"),
    "regenerate token": lambda c: c.tokens.regenerate("tok1", NOW + 30 * 86400),
    "list gateway groups": lambda c: list(c.gateway_groups(search="prod")),
    "get gateway group": lambda c: c.gateway_group("default"),
    "list published services": lambda c: list(c.published_services("default")),
    "list services": lambda c: list(c.services(gateway_group_id="default", search="orders")),
    "get service": lambda c: c.service("s1"),
    "create service": lambda c: c.create_service({"name": "orders", "upstream": UPSTREAM}),
    "publish": lambda c: c.publish(
        "default", [{"service_id": "s1", "version": "1.0.0", "upstream": UPSTREAM}], create_new_version=True
    ),
}


@pytest.fixture(scope="module", autouse=True)
def loaded_description() -> Any:
    """Load the 1.7 MB description once for the module."""
    return openapi()


@pytest.mark.parametrize("auth", ["header", "cookie"])
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_api7_operation_follows_the_description(name: str, auth: str) -> None:
    transport = ContractTransport(fake_api7)

    OPERATIONS[name](client_over(transport, auth=auth))

    assert transport.requests, "the operation sent nothing"
    assert transport.errors == []
    for request in transport.requests:
        # Checked here rather than by openapi-core: the description's security scheme is not what API7 uses.
        if auth == "header":
            assert request.headers["X-API-KEY"] == TOKEN
        else:
            assert request.headers["Cookie"] == f"X-API-KEY={TOKEN}"


def test_the_token_operations_under_the_newer_prefix_follow_the_description_too() -> None:
    transport = ContractTransport(fake_api7)
    client = client_over(transport, token_path_prefix="/api/tokens")

    for name in ("create token", "list tokens", "get token", "rename token", "regenerate token", "delete token"):
        OPERATIONS[name](client)

    assert {r.url.path.split("/")[2] for r in transport.requests} == {"tokens"}
    assert transport.errors == []


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", "/api/settings/tokens", {"name": "n"}, "expires_at"),
        ("PUT", "/api/settings/tokens/t1/regenerate", {"expires_at": "soon"}, "expires_at"),
        ("GET", "/api/gateway_groups?page=0", None, "page"),
        ("POST", "/api/services/publish", {"gateway_group_id": "g", "services": [{"service_id": "s1"}]}, "upstream"),
        ("GET", "/api/not-in-the-description", None, "PathNotFound"),
    ],
)
def test_the_checker_catches_requests_that_break_the_description(
    method: str, path: str, body: Any, expected: str
) -> None:
    request = httpx.Request(method, f"https://api7.test{path}", json=body)

    errors = request_errors(request)

    assert errors
    assert expected in " ".join(errors)


def test_the_checker_catches_fake_answers_that_break_the_description() -> None:
    request = httpx.Request("GET", "https://api7.test/apisix/admin/services?page=1&page_size=5")

    errors = response_errors(request, httpx.Response(200, json={"total": 1, "list": [{"id": "s1"}]}))

    assert "'name' is a required property" in " ".join(errors)
