"""`create_app` served by uvicorn over real HTTP, as `relay sandbox` runs it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
import uvicorn

from tests.worker.devtools.sandbox.support import BOOTSTRAP
from worker.devtools.sandbox import create_app


@pytest.fixture
def served() -> Iterator[str]:
    """Serve a sandbox with the real clock on a loopback port; return its URL."""
    # The socket listens before uvicorn starts, so early connections wait in the backlog: no polling needed.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(create_app(BOOTSTRAP), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    host, port = sock.getsockname()
    yield f"http://{host}:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_a_token_lifecycle_over_http(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as http:
        expires_at = int(time.time()) + 3600
        created = http.post(
            "/api/tokens", json={"name": "ci", "expires_at": expires_at}, headers={"X-API-KEY": BOOTSTRAP}
        )
        assert created.status_code == 200
        value = created.json()["value"]
        regenerated = http.put(
            f"/api/tokens/{value['id']}/regenerate",
            json={"expires_at": 0},
            headers={"Cookie": f"X-API-KEY={value['token']}"},
        )
        assert regenerated.status_code == 200
        assert http.get("/api/tokens", params={"api_key": value["token"]}).status_code == 401
        new_secret = regenerated.json()["value"]["token"]
        assert http.get("/api/tokens", params={"api_key": new_secret}).status_code == 200
        records = http.get("/_sandbox/requests").json()
        assert [r["status"] for r in records] == [200, 200, 401, 200]
        assert all(s not in str(records) for s in (BOOTSTRAP, value["token"], new_secret))


def test_faults_over_http(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10, headers={"X-API-KEY": BOOTSTRAP}) as http:
        assert http.post("/_sandbox/faults", json={"status": 429, "retry_after": 3}).status_code == 201
        throttled = http.get("/api/gateway_groups")
        assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "3"
        assert http.get("/api/gateway_groups").status_code == 200


@pytest.mark.anyio
async def test_latency_does_not_hold_up_other_clients(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=10, headers={"X-API-KEY": BOOTSTRAP}) as http:
        await http.post("/_sandbox/faults", json={"latency_ms": 400, "path": "/api/tokens"})
        finished: list[str] = []

        async def get(path: str) -> None:
            await http.get(path)
            finished.append(path)

        async with anyio.create_task_group() as group:
            group.start_soon(get, "/api/tokens")
            # The slow request has reached the sandbox once it has consumed the fault (it is recorded only when done).
            with anyio.fail_after(5):
                while (await http.get("/_sandbox/faults")).json() != []:
                    await anyio.sleep(0.01)
            group.start_soon(get, "/api/gateway_groups")
        assert finished == ["/api/gateway_groups", "/api/tokens"]


@pytest.mark.parametrize(("when", "effects"), [("before", 0), ("after", 1)])
def test_a_timeout_loses_the_answer_and_the_write_happens_only_after(served: str, when: str, effects: int) -> None:
    with httpx.Client(base_url=served, timeout=10, headers={"X-API-KEY": BOOTSTRAP}) as http:
        fault = {"latency_ms": 1500, "when": when, "method": "POST"}
        assert http.post("/_sandbox/faults", json=fault).status_code == 201
        with pytest.raises(httpx.ReadTimeout):
            http.post("/apisix/admin/services", json={"name": "s"}, headers={"Idempotency-Key": "k"}, timeout=0.3)
        # "after": handled and counted before the delay, so the client's timeout finds the write done.
        assert http.get("/_sandbox/effects").json()["total"] == effects
