"""Bad input gets the right 4xx with `{"error_msg": ...}`, never a 500."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import FakeClock
from tests.worker.devtools.sandbox.support import BOOTSTRAP, START, make_client
from worker.devtools.sandbox.state import new_state

NOW = int(START)
SVC = "/apisix/admin/services"
NODE = {"host": "127.0.0.1", "port": 80, "weight": 1}

# (method, path, raw body or JSON, expected status, part of the error message)
CASES: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/api/tokens", b"{not json", 400, "invalid JSON body"),
    ("POST", "/api/tokens", b"", 400, "request body is required"),
    ("POST", "/api/tokens", b"\xff\xfe", 400, "invalid JSON body"),
    ("POST", "/api/tokens", [], 400, "must be a JSON object"),
    ("POST", "/api/tokens", b'{"name": "a", "expires_at": NaN}', 400, "NaN is not valid JSON"),
    ("POST", SVC, b'{"name": "s", "plugins": {"limit": Infinity}}', 400, "Infinity is not valid JSON"),
    ("POST", "/api/tokens", "name", 400, "must be a JSON object"),
    ("POST", "/api/tokens", {"expires_at": 0}, 400, "name is required"),
    ("POST", "/api/tokens", {"name": 5, "expires_at": 0}, 400, "name must be a non-empty string"),
    ("POST", "/api/tokens", {"name": " ", "expires_at": 0}, 400, "name must be a non-empty string"),
    ("POST", "/api/tokens", {"name": "x" * 41, "expires_at": 0}, 400, "at most 40 characters"),
    ("POST", "/api/tokens", {"name": "a"}, 400, "expires_at is required"),
    ("POST", "/api/tokens", {"name": "a", "expires_at": "0"}, 400, "expires_at must be a non-negative integer"),
    ("POST", "/api/tokens", {"name": "a", "expires_at": True}, 400, "expires_at must be a non-negative integer"),
    ("POST", "/api/tokens", {"name": "a", "expires_at": 1.5}, 400, "expires_at must be a non-negative integer"),
    ("POST", "/api/tokens", {"name": "a", "expires_at": -1}, 400, "expires_at must be a non-negative integer"),
    ("POST", "/api/tokens", {"name": "a", "expires_at": 2**70}, 400, "expires_at must be a non-negative integer"),
    ("POST", "/api/tokens", {"name": "a", "expires_at": NOW - 1}, 400, "must be in the future"),
    ("GET", "/api/tokens?page=0", None, 400, "page must be an integer >= 1"),
    ("GET", "/api/tokens?page_size=ten", None, 400, "page_size must be an integer >= 1"),
    ("GET", "/api/tokens?page_size=-1", None, 400, "page_size must be an integer >= 1"),
    ("GET", "/api/tokens?order_by=name", None, 400, "order_by must be one of"),
    ("GET", "/api/tokens?direction=up", None, 400, "direction must be asc or desc"),
    ("GET", "/api/tokens/check_name", None, 400, "name is required"),
    ("GET", "/api/tokens/bad%20id", None, 400, "invalid token_id"),
    ("GET", "/api/tokens/unknown", None, 404, "token not found: unknown"),
    ("PUT", "/api/tokens/TOKEN", {"title": "x"}, 400, "name is required"),
    ("PUT", "/api/tokens/TOKEN/regenerate", {}, 400, "expires_at is required"),
    ("PUT", "/api/tokens/TOKEN/regenerate", b"", 400, "request body is required"),
    ("GET", "/api/gateway_groups?order_by=expires_at", None, 400, "order_by must be one of"),
    ("GET", "/api/gateway_groups/unknown", None, 404, "gateway group not found"),
    ("POST", SVC, {}, 400, "service body must not be empty"),
    ("POST", SVC, {"desc": "no name"}, 400, "name is required"),
    ("POST", SVC, {"name": ""}, 400, "name must be a non-empty string"),
    ("POST", SVC, {"name": "s", "desc": 1}, 400, "desc must be a string"),
    ("POST", SVC, {"name": "s", "labels": {"a": 1}}, 400, "labels must be"),
    ("POST", SVC, {"name": "s", "labels": {"a": "has space"}}, 400, "labels must be"),
    ("POST", SVC, {"name": "s", "hosts": "a.com"}, 400, "hosts must be an array"),
    ("POST", SVC, {"name": "s", "hosts": []}, 400, "hosts must be an array"),
    ("POST", SVC, {"name": "s", "hosts": ["a.com", "a.com"]}, 400, "hosts must be unique"),
    ("POST", SVC, {"name": "s", "hosts": ["not a host"]}, 400, "hosts must be host names"),
    ("POST", SVC, {"name": "s", "path_prefix": "api"}, 400, "path_prefix must be a path"),
    ("POST", SVC, {"name": "s", "plugins": []}, 400, "plugins must be an object"),
    ("POST", SVC, {"name": "s", "upstream": []}, 400, "upstream must be an object"),
    ("POST", SVC, {"name": "s", "upstream": {"nodes": []}}, 400, "upstream.nodes must be an array"),
    ("POST", SVC, {"name": "s", "upstream": {"nodes": [{**NODE, "port": 0}]}}, 400, "port between"),
    ("POST", SVC, {"name": "s", "upstream": {"nodes": [{**NODE, "weight": "1"}]}}, 400, "weight between"),
    ("POST", SVC, {"name": "s", "upstream": {"nodes": [{"port": 80, "weight": 1}]}}, 400, "needs a host"),
    ("GET", f"{SVC}?last_publish_start_at=yesterday", None, 400, "must be a non-negative integer"),
    ("GET", f"{SVC}?gateway_group_id=unknown", None, 404, "gateway group not found"),
    ("GET", f"{SVC}/unknown", None, 404, "service not found: unknown"),
    ("PUT", f"{SVC}/a", {"id": "b", "name": "s"}, 400, "does not match the path"),
    ("PUT", f"{SVC}/a", {"upstream": {}}, 400, "name is required"),
    ("PATCH", f"{SVC}/unknown", {"desc": "x"}, 404, "service not found: unknown"),
    ("PATCH", f"{SVC}/SERVICE", {}, 400, "must change at least one field"),
    ("PATCH", f"{SVC}/SERVICE", {"hosts": 3}, 400, "hosts must be an array"),
    ("PATCH", f"{SVC}/SERVICE?dry-run=some", {"desc": "x"}, 400, "dry-run must be all"),
    ("DELETE", f"{SVC}/unknown", None, 404, "service not found: unknown"),
    ("POST", "/api/services/publish", {"gateway_group_id": "default"}, 400, "services must be a non-empty array"),
    ("POST", "/api/services/publish", {"services": [{}]}, 400, "gateway_group_id is required"),
    ("POST", "/api/services/publish", {"gateway_group_id": "default", "services": [1]}, 400, "must be an object"),
    ("GET", "/api/gateway_groups/default/services?runtime_type=blue", None, 400, "runtime_type must be"),
    ("GET", "/api/services/unknown/published_services", None, 404, "service not found: unknown"),
    ("DELETE", "/api/gateway_groups/default/services/unknown", None, 404, "is not published"),
    ("PATCH", "/api/tokens", {}, 405, "Method Not Allowed"),
    ("GET", "/api/no/such/thing", None, 404, "Not Found"),
]


async def _send(method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    state = new_state(BOOTSTRAP, FakeClock(START))
    token, _ = state.tokens.create("existing", 0)
    service = state.catalog.create_service({"name": "existing"})
    path = path.replace("TOKEN", token.id).replace("SERVICE", service.id)
    async with make_client(state, headers={"X-API-KEY": BOOTSTRAP}) as client:
        if isinstance(body, bytes):
            response = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
        else:
            response = await client.request(method, path, json=body)
    return response.status_code, response.json()


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "body", "status", "message"), CASES)
async def test_bad_input_is_a_4xx_with_error_msg(method: str, path: str, body: Any, status: int, message: str) -> None:
    answered, payload = await _send(method, path, body)
    assert answered == status
    assert set(payload) == {"error_msg"}
    assert message in payload["error_msg"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        *("name", "expires_at", "desc", "labels", "hosts", "path_prefix", "plugins", "upstream", "nodes", "id"),
        *("services", "gateway_group_id", "service_id", "version", "create_new_version", "status", "host", "port"),
    ]
)
BODIES = st.dictionaries(FIELDS, JSON, max_size=5) | JSON
WRITES = [
    ("POST", "/api/tokens"),
    ("PUT", "/api/tokens/TOKEN"),
    ("PUT", "/api/tokens/TOKEN/regenerate"),
    ("POST", SVC),
    ("PUT", f"{SVC}/fresh"),
    ("PATCH", f"{SVC}/SERVICE"),
    ("POST", "/api/services/publish"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(WRITES), body=BODIES | st.binary(max_size=40))
def test_no_body_makes_a_server_error(target: tuple[str, str], body: Any) -> None:
    status, payload = anyio.run(_send, *target, body)
    assert status < 500
    if status >= 400:
        assert set(payload) == {"error_msg"}
