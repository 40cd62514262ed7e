"""`relay sandbox --api7-version` as a real process: each generation of API7's admin API over real HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.support import Sandbox, wait_for
from worker.devtools.supervise.embedded import free_port

pytestmark = pytest.mark.integration

TOKEN = "sandbox-bootstrap-secret-for-generations"
GG = {"gateway_group_id": "default"}
SERVICE = {"name": "billing", "upstream": {"nodes": [{"host": "billing.internal", "port": 8080, "weight": 1}]}}


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_sandbox/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def relay_sandbox(*args: str) -> Iterator[str]:
    """Run `relay sandbox` with ARGS on a free port; yield its URL."""
    port = free_port()
    argv = [sys.executable, "-m", "worker.cli", "sandbox", "--port", str(port), "--token", TOKEN, *args]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(url) or process.poll() is not None, timeout=20, what="relay sandbox to listen")
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_3_5_serves_runtime_resources_per_gateway_group() -> None:
    with relay_sandbox("--api7-version", "3.5.0") as url, httpx.Client(base_url=url, headers={"X-API-KEY": TOKEN}) as c:
        assert c.get("/api/version").json() == {"value": "3.5.0"}
        assert c.put("/apisix/admin/services/billing", json=SERVICE).status_code == 400
        assert c.put("/apisix/admin/services/billing", params=GG, json=SERVICE).status_code == 200
        route = {"name": "r", "paths": ["/invoices"], "service_id": "billing"}
        assert c.put("/apisix/admin/routes/r1", params=GG, json=route).status_code == 200
        state = Sandbox(url, TOKEN).group_state()
        assert state["api7_version"] == "3.5.0"
        assert state["resources"]["routes"]["r1"]["status"] == 1
        assert c.get("/apisix/admin/routes", params=GG).json()["total"] == 1


def test_3_2_is_the_default_and_has_no_version_route() -> None:
    with relay_sandbox() as url, httpx.Client(base_url=url, headers={"X-API-KEY": TOKEN}) as c:
        assert c.get("/api/version").status_code == 404
        created = c.post("/apisix/admin/services", json=SERVICE)
        assert created.status_code == 200
        assert "published_gateway_groups_count" in created.json()["value"]


def test_runtime_sandbox_fixture_seeds_and_reads_state(runtime_sandbox: Sandbox) -> None:
    runtime_sandbox.seed("services", "adc-made", SERVICE, made_by="adc")
    services = runtime_sandbox.group_state()["resources"]["services"]
    assert services["adc-made"]["labels"] == {"managed-by": "adc"}
