"""Contract: every API7 request Relay's clients make follows API7's own OpenAPI description (openapi-core).

The answers come from the sandbox (mounted as a transport: the one API7 stand-in) and are checked too, so neither
Relay's nor the sandbox's idea of API7 can drift from the description.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.contract.openapi import ContractTransport, openapi, request_errors, response_errors
from tests.support import SandboxTransport
from tests.worker.targets.api7_client import Api7Client
from tests.worker.targets.helpers import TOKEN, MutableTokens
from worker.config import TargetConfig
from worker.targets import TargetClient

NOW = 1_760_000_000
UPSTREAM = {"nodes": [{"host": "10.0.0.1", "port": 8080, "weight": 100}]}


@dataclass
class Api7:
    """The sandbox standing in for API7, with a token (``token_id``) and a service ``s1`` already there."""

    transport: SandboxTransport
    token_id: str


@pytest.fixture
def api7() -> Iterator[Api7]:
    """A fresh sandbox over a transport; its bootstrap token is what the client sends."""
    sandbox = SandboxTransport(TOKEN, clock=lambda: NOW)
    with sandbox.admin() as admin:
        created = admin.post("/api/settings/tokens", json={"name": "relay-prod", "expires_at": NOW + 86400})
        created.raise_for_status()
        admin.put("/apisix/admin/services/s1", json={"name": "orders", "upstream": UPSTREAM}).raise_for_status()
    yield Api7(sandbox, created.json()["value"]["id"])
    sandbox.stop()


def client_over(transport: ContractTransport, **config: Any) -> Api7Client:
    target = TargetConfig.model_validate({"kind": "api7", "base_url": "https://api7.test:7443", **config})
    return Api7Client(TargetClient("prod", target, MutableTokens(), transport=transport), page_size=50)


Operation = Callable[[Api7Client, str], object]  # the client, the id of an existing token

OPERATIONS: dict[str, Operation] = {
    "create token": lambda c, _: c.tokens.create("relay-next", NOW + 86400, idempotency_key="e:r:0"),
    "create never-expiring token": lambda c, _: c.tokens.create("relay-forever", 0),
    "list tokens": lambda c, _: list(c.tokens.list(search="relay", order_by="expires_at", direction="asc")),
    "find token": lambda c, _: c.tokens.find("relay-prod"),
    "check token name": lambda c, _: c.tokens.name_exists("relay-prod"),
    "get token": lambda c, tid: c.tokens.get(tid),
    "rename token": lambda c, tid: c.tokens.update(tid, "relay-prod-2"),
    "delete token": lambda c, tid: c.tokens.delete(tid),
    "regenerate token": lambda c, tid: c.tokens.regenerate(tid, NOW + 30 * 86400),
    "list gateway groups": lambda c, _: list(c.gateway_groups(search="default")),
    "get gateway group": lambda c, _: c.gateway_group("default"),
    "list published services": lambda c, _: list(c.published_services("default")),
    "list services": lambda c, _: list(c.services(gateway_group_id="default", search="orders")),
    "get service": lambda c, _: c.service("s1"),
    "create service": lambda c, _: c.create_service({"name": "orders-2", "upstream": UPSTREAM}),
    "publish": lambda c, _: c.publish(
        "default", [{"service_id": "s1", "version": "1.0.0", "upstream": UPSTREAM}], create_new_version=True
    ),
}


@pytest.fixture(scope="module", autouse=True)
def loaded_description() -> Any:
    """Load the 1.7 MB description once for the module."""
    return openapi()


@pytest.mark.parametrize("auth", ["header", "cookie"])
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_api7_operation_follows_the_description(name: str, auth: str, api7: Api7) -> None:
    transport = ContractTransport(api7.transport.handle_request)

    OPERATIONS[name](client_over(transport, auth=auth), api7.token_id)

    assert transport.requests, "the operation sent nothing"
    assert transport.errors == []
    for request in transport.requests:
        # Checked here rather than by openapi-core: the description's security scheme is not what API7 uses.
        if auth == "header":
            assert request.headers["X-API-KEY"] == TOKEN
        else:
            assert request.headers["Cookie"] == f"X-API-KEY={TOKEN}"


def test_the_token_operations_under_the_newer_prefix_follow_the_description_too(api7: Api7) -> None:
    transport = ContractTransport(api7.transport.handle_request)
    client = client_over(transport, token_path_prefix="/api/tokens")

    for name in ("create token", "list tokens", "get token", "rename token", "regenerate token", "delete token"):
        OPERATIONS[name](client, api7.token_id)

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


def test_the_checker_catches_answers_that_break_the_description() -> None:
    request = httpx.Request("GET", "https://api7.test/apisix/admin/services?page=1&page_size=5")

    errors = response_errors(request, httpx.Response(200, json={"total": 1, "list": [{"id": "s1"}]}))

    assert "'name' is a required property" in " ".join(errors)
