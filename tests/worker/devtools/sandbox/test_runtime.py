"""The runtime store: a service's named upstreams (held under it, its inline upstream listed as the default one) and
what deleting an owner takes with it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import FakeClock
from tests.worker.devtools.sandbox.support import SERVICE, START
from worker.devtools.sandbox.runtime import RuntimeStore
from worker.devtools.sandbox.runtime_kinds import CREDENTIALS, KINDS, SERVICE_UPSTREAMS
from worker.devtools.sandbox.web import ApiError

G = "default"
SERVICES = KINDS["services"]
CANARY: dict[str, Any] = {"name": "canary", "nodes": [{"host": "canary.internal", "port": 8080, "weight": 1}]}


@pytest.fixture
def store() -> RuntimeStore:
    """A store holding service billing (with its inline upstream) and service orders."""
    runtime = RuntimeStore(FakeClock(START))
    runtime.put(G, SERVICES, "billing", SERVICE)
    runtime.put(G, SERVICES, "orders", {**SERVICE, "name": "orders"})
    return runtime


def test_a_named_upstream_is_stored_under_its_service_with_the_gateways_defaults(store: RuntimeStore) -> None:
    created, new = store.put(G, SERVICE_UPSTREAMS, "u1", {**CANARY, "id": "u1"}, "billing")
    assert new
    value = created.public()
    assert value["id"] == "u1"
    assert (value["type"], value["scheme"], value["pass_host"]) == ("roundrobin", "http", "pass")
    assert value["nodes"][0]["priority"] == 0
    assert store.get(G, SERVICE_UPSTREAMS, "u1", "billing") is created
    with pytest.raises(ApiError, match="upstream not found: u1"):
        store.get(G, SERVICE_UPSTREAMS, "u1", "orders")


def test_a_services_inline_upstream_is_listed_among_its_upstreams_under_the_services_id(store: RuntimeStore) -> None:
    store.put(G, SERVICE_UPSTREAMS, "u1", CANARY, "billing")
    listed = [r.public() for r in store.listed(G, SERVICE_UPSTREAMS, "billing")]
    assert [item["id"] for item in listed] == ["billing", "u1"]
    service = store.get(G, SERVICES, "billing")
    assert listed[0] == {
        **service.config["upstream"],
        "id": "billing",
        "created_at": int(START),
        "updated_at": int(START),
    }
    assert store.get(G, SERVICE_UPSTREAMS, "billing", "billing").public() == listed[0]
    # A service without an inline upstream lists only its named ones.
    store.put(G, SERVICES, "bare", {"name": "bare"})
    assert store.listed(G, SERVICE_UPSTREAMS, "bare") == []


def test_the_default_upstream_is_written_with_its_service_only(store: RuntimeStore) -> None:
    before = store.get(G, SERVICES, "billing").config
    with pytest.raises(ApiError, match="default upstream of service billing"):
        store.put(G, SERVICE_UPSTREAMS, "billing", CANARY, "billing")
    with pytest.raises(ApiError, match="default upstream of service billing"):
        store.delete(G, SERVICE_UPSTREAMS, "billing", "billing")
    assert store.get(G, SERVICES, "billing").config == before
    assert store.items(G, SERVICE_UPSTREAMS, "billing") == []


def test_an_upstream_of_a_missing_service_is_a_404_naming_the_service(store: RuntimeStore) -> None:
    with pytest.raises(ApiError, match="service not found: nope") as refused:
        store.put(G, SERVICE_UPSTREAMS, "u1", CANARY, "nope")
    assert refused.value.status == 404
    with pytest.raises(ApiError, match="service not found: nope"):
        store.listed(G, SERVICE_UPSTREAMS, "nope")


def test_deleting_a_service_takes_its_upstreams_and_no_one_elses(store: RuntimeStore) -> None:
    store.put(G, SERVICE_UPSTREAMS, "u1", CANARY, "billing")
    store.put(G, SERVICE_UPSTREAMS, "u1", CANARY, "orders")
    store.put(G, KINDS["consumers"], "billing", {"username": "billing"})
    store.put(G, CREDENTIALS, "c1", {"plugins": {"key-auth": {"key": "k"}}}, "billing")
    store.delete(G, SERVICES, "billing")
    assert list(store.bucket(G, SERVICE_UPSTREAMS)) == ["orders/u1"]
    # A consumer of the same name keeps its credential: only the owner's kind cascades.
    assert list(store.bucket(G, CREDENTIALS)) == ["billing/c1"]


def test_a_service_cannot_take_a_named_upstream_as_its_upstream_id(store: RuntimeStore) -> None:
    # Nothing documents it: upstream_id names a stand-alone upstream, as APISIX's does, and 3.5 serves none.
    store.put(G, SERVICE_UPSTREAMS, "u1", CANARY, "billing")
    with pytest.raises(ApiError, match=r"upstream id \[u1\]"):
        store.put(G, SERVICES, "billing", {"name": "billing", "upstream_id": "u1"})
