"""`relay sandbox --api7-version` as a real process: each generation of API7's admin API over real HTTP."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import httpx
import pytest

from tests.support import Sandbox
from worker.devtools.supervise.children import Supervisor, http_ready
from worker.devtools.supervise.embedded import free_port

pytestmark = pytest.mark.integration

TOKEN = "sandbox-bootstrap-secret-for-generations"
GG = {"gateway_group_id": "default"}
SERVICE = {"name": "billing", "upstream": {"nodes": [{"host": "billing.internal", "port": 8080, "weight": 1}]}}


@pytest.fixture
def relay_sandbox(processes: Supervisor) -> Callable[..., str]:
    """Run `relay sandbox` with ARGS on a free port as a child of the test; return its URL once it answers."""

    def start(*args: str) -> str:
        url = f"http://127.0.0.1:{(port := free_port())}"
        argv = [sys.executable, "-m", "worker.cli", "sandbox", "--port", str(port), "--token", TOKEN, *args]
        processes.start(f"sandbox-{port}", argv, env=dict(os.environ), ready=http_ready(f"{url}/_sandbox/health"))
        return url

    return start


def test_3_5_serves_runtime_resources_per_gateway_group(relay_sandbox: Callable[..., str]) -> None:
    url = relay_sandbox("--api7-version", "3.5.0")
    with httpx.Client(base_url=url, headers={"X-API-KEY": TOKEN}) as c:
        assert c.get("/api/version").json() == {"value": "3.5.0"}
        assert c.put("/apisix/admin/services/billing", json=SERVICE).status_code == 400
        assert c.put("/apisix/admin/services/billing", params=GG, json=SERVICE).status_code == 200
        route = {"name": "r", "paths": ["/invoices"], "service_id": "billing"}
        assert c.put("/apisix/admin/routes/r1", params=GG, json=route).status_code == 200
        state = Sandbox(url, TOKEN).group_state()
        assert state["api7_version"] == "3.5.0"
        assert state["resources"]["routes"]["r1"]["status"] == 1
        assert c.get("/apisix/admin/routes", params={**GG, "service_id": "billing"}).json()["total"] == 1
        assert c.get("/apisix/admin/routes", params=GG).status_code == 400  # service_id is required with a token
        assert c.get("/apisix/admin/upstreams", params=GG).status_code == 404  # no stand-alone upstreams


def test_3_2_is_the_default_and_has_no_version_route(relay_sandbox: Callable[..., str]) -> None:
    with httpx.Client(base_url=relay_sandbox(), headers={"X-API-KEY": TOKEN}) as c:
        assert c.get("/api/version").status_code == 404
        created = c.post("/apisix/admin/services", json=SERVICE)
        assert created.status_code == 200
        assert "published_gateway_groups_count" in created.json()["value"]


def test_runtime_sandbox_fixture_seeds_and_reads_state(runtime_sandbox: Sandbox) -> None:
    runtime_sandbox.seed("services", "adc-made", SERVICE, made_by="adc")
    services = runtime_sandbox.group_state()["resources"]["services"]
    assert services["adc-made"]["labels"] == {"managed-by": "adc"}
