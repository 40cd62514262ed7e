"""Defaults the gateway adds on write and answers on every read, so a client's diff is tested against them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.worker.devtools.sandbox.support import CERT, GG, KEY, ROUTE, SERVICE, put_ok

pytestmark = pytest.mark.anyio

A = "/apisix/admin"


async def test_a_service_gets_upstream_and_node_defaults(rt: httpx.AsyncClient) -> None:
    value = await put_ok(rt, f"{A}/services/billing", SERVICE)
    assert value["type"] == "http"
    upstream = value["upstream"]
    assert (upstream["type"], upstream["scheme"], upstream["pass_host"]) == ("roundrobin", "http", "pass")
    assert upstream["nodes"] == [{"host": "billing.internal", "port": 8080, "weight": 100, "priority": 0}]
    got = (await rt.get(f"{A}/services/billing", params=GG)).json()["value"]
    listed = (await rt.get(f"{A}/services", params=GG)).json()["list"]
    assert got == value == listed[0]


async def test_a_value_the_client_sent_wins_over_the_default(rt: httpx.AsyncClient) -> None:
    upstream = {"type": "chash", "key": "remote_addr", "scheme": "https", "nodes": SERVICE["upstream"]["nodes"]}
    value = await put_ok(rt, f"{A}/services/billing", {**SERVICE, "upstream": upstream})
    assert (value["upstream"]["type"], value["upstream"]["scheme"]) == ("chash", "https")
    await put_ok(rt, f"{A}/routes/r1", {**ROUTE, "status": 0, "priority": 10})
    route = (await rt.get(f"{A}/routes/r1", params=GG)).json()["value"]
    assert (route["status"], route["priority"]) == (0, 10)


async def test_a_route_gets_status_priority_and_plugin_defaults(rt: httpx.AsyncClient) -> None:
    await put_ok(rt, f"{A}/services/billing", SERVICE)
    plugins: dict[str, Any] = {"key-auth": {}, "limit-count": {"count": 10, "time_window": 60}}
    route = await put_ok(rt, f"{A}/routes/r1", {**ROUTE, "plugins": plugins})
    assert (route["status"], route["priority"]) == (1, 0)
    assert route["plugins"]["key-auth"] == {"header": "apikey", "query": "apikey", "hide_credentials": False}
    assert route["plugins"]["limit-count"] == {
        "count": 10,
        "time_window": 60,
        "key": "remote_addr",
        "key_type": "var",
        "rejected_code": 503,
        "policy": "local",
        "allow_degradation": False,
        "show_limit_quota_header": True,
    }
    assert plugins == {"key-auth": {}, "limit-count": {"count": 10, "time_window": 60}}, "the request is not changed"


async def test_global_rule_plugins_get_their_defaults(rt: httpx.AsyncClient) -> None:
    rule = await put_ok(rt, f"{A}/global_rules/prometheus", {"plugins": {"prometheus": {}}})
    assert rule["plugins"] == {"prometheus": {"prefer_name": False}}


async def test_an_ssl_gets_type_and_status(rt: httpx.AsyncClient) -> None:
    ssl = await put_ok(rt, f"{A}/ssls/api", {"cert": CERT, "key": KEY, "snis": ["api.example.com"]})
    assert (ssl["type"], ssl["status"]) == ("server", 1)


async def test_consumer_side_key_auth_gets_no_route_side_defaults(rt: httpx.AsyncClient) -> None:
    await put_ok(rt, f"{A}/consumers/ci-bot", {"username": "ci-bot"})
    cred = await put_ok(rt, f"{A}/consumers/ci-bot/credentials/c1", {"plugins": {"key-auth": {"key": "k-1"}}})
    assert cred["plugins"] == {"key-auth": {}}


async def test_plugin_metadata_is_stored_as_sent(rt: httpx.AsyncClient) -> None:
    meta = await put_ok(rt, f"{A}/plugin_metadata/prometheus", {"prefer_name": True})
    assert meta == {
        "prefer_name": True,
        "id": "prometheus",
        "created_at": meta["created_at"],
        "updated_at": meta["updated_at"],
    }


def _defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """Read a JSON schema's defaults as ADC's backend does (objects nested, arrays of objects as one item)."""
    found: dict[str, Any] = {}
    for key, field in schema.get("properties", {}).items():
        if field.get("type") == "object":
            found[key] = _defaults(field)
        elif field.get("type") == "array" and field.get("items", {}).get("type") == "object":
            found[key] = [_defaults(field["items"])]
        elif "default" in field:
            found[key] = field["default"]
    return found


async def test_the_core_schema_announces_exactly_the_defaults_added(rt: httpx.AsyncClient) -> None:
    core = (await rt.get("/api/schema/core")).json()["value"]
    service = await put_ok(rt, f"{A}/services/billing", SERVICE)
    route = await put_ok(rt, f"{A}/routes/r1", ROUTE)
    ssl = await put_ok(rt, f"{A}/ssls/api", {"cert": CERT, "key": KEY, "snis": ["api.example.com"]})
    announced = _defaults(core["service"])
    assert announced == {
        "type": "http",
        "upstream": {"type": "roundrobin", "scheme": "http", "pass_host": "pass", "nodes": [{"priority": 0}]},
    }
    assert {k: service[k] for k in ("type",)} == {"type": announced["type"]}
    assert {k: service["upstream"][k] for k in ("type", "scheme", "pass_host")} == {
        k: announced["upstream"][k] for k in ("type", "scheme", "pass_host")
    }
    assert _defaults(core["route"]).items() <= route.items()
    assert _defaults(core["ssl"]).items() <= ssl.items()
    assert _defaults(core["upstream"]) == announced["upstream"]


async def test_3_2_has_no_core_schema(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/schema/core")).status_code == 404
