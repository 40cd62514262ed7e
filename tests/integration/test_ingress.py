"""The receiver on real Redis: status codes, concurrent duplicates, limits, outages and the sweeper."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from cryptography.fernet import Fernet

from tasks.maintenance import requeue_stranded
from tests.support import Server, wait_for, wait_for_event
from webhooks.app import REDIS_CONNECTIONS, create_app
from worker.celery_app import EVENTS_QUEUE
from worker.cli.serve import receiver_server_options
from worker.config import Settings
from worker.devtools.bench import loadgen
from worker.devtools.supervise.children import Child
from worker.devtools.supervise.embedded import free_port
from worker.runtime import Runtime
from worker.store.events import EventStatus, EventStore
from worker.targets import ConfigTokens
from worker.tokens.keys import load_cipher
from worker.tokens.store import TokenStore

pytestmark = pytest.mark.integration

SECRET = "ci-secret-for-ingress-tests"


def signed(body: bytes, delivery: str | None = None) -> dict[str, str]:
    """Headers of an ``hmac`` source delivery."""
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Signature": f"sha256={digest}",
        "X-Event": "build",
        "X-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }


CONFIG: dict[str, Any] = {
    "sources": {
        "ci": {
            "kind": "hmac", "secret": SECRET, "header": "X-Signature", "prefix": "sha256=",
            "event_header": "X-Event", "delivery_header": "X-Delivery", "max_body_bytes": 1024,
        }
    },
    "rules": [],
}  # fmt: skip


@pytest.fixture
def settings(
    write_config: Callable[[dict[str, Any]], Settings], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    return write_config(CONFIG)


@pytest.fixture
def receiver(settings: Settings, redis_url: str, serve_app: Callable[[Any], Server]) -> Server:
    return serve_app(create_app(settings, redis_url=redis_url))


def test_concurrent_identical_deliveries_store_and_queue_one_event(receiver: Server, redis_client: redis.Redis) -> None:
    body = b'{"status": "success"}'
    headers = signed(body, delivery="same")

    def post(_: int) -> httpx.Response:
        return httpx.post(f"{receiver.url}/hooks/ci", content=body, headers=headers)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, range(32)))

    assert sorted(a.status_code for a in answers).count(202) == 1
    assert {a.status_code for a in answers} == {200, 202}
    assert len({a.json()["event_id"] for a in answers}) == 1
    assert redis_client.llen(EVENTS_QUEUE) == 1
    assert redis_client.zcard("relay:events") == 1


def test_body_over_the_limit_sent_in_chunks_is_refused_with_413(receiver: Server, redis_client: redis.Redis) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * 512

    answer = httpx.post(f"{receiver.url}/hooks/ci", content=chunks(), headers=signed(b""))

    assert answer.status_code == 413
    assert answer.json() == {"error": "body larger than 1024 bytes"}
    assert redis_client.zcard("relay:events") == 0


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "error"),
    [
        ("/hooks/nope", {}, b"{}", 404, "unknown source"),
        ("/hooks/ci", {"X-Event": "build"}, b"{}", 401, "missing"),
        ("/hooks/ci", "signed", b"{not json", 400, "JSON"),
    ],
)
def test_client_errors_get_their_status_and_store_nothing(
    receiver: Server, redis_client: redis.Redis, path: str, headers: Any, body: bytes, status: int, error: str
) -> None:
    answer = httpx.post(f"{receiver.url}{path}", content=body, headers=signed(body) if headers == "signed" else headers)

    assert answer.status_code == status
    assert error in answer.json()["error"]
    assert redis_client.zcard("relay:events") == 0
    assert redis_client.llen(EVENTS_QUEUE) == 0


def test_redis_down_answers_503_and_readyz_says_so(settings: Settings, serve_app: Callable[[Any], Server]) -> None:
    dead = serve_app(create_app(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    body = b'{"status": "success"}'

    answer = httpx.post(f"{dead.url}/hooks/ci", content=body, headers=signed(body))

    assert answer.status_code == 503
    assert answer.json() == {"error": "event could not be stored, retry later"}
    assert httpx.get(f"{dead.url}/readyz").status_code == 503
    assert httpx.get(f"{dead.url}/healthz").status_code == 200


def test_metrics_count_by_source_and_reason(receiver: Server) -> None:
    body = b'{"status": "success"}'
    headers = signed(body)
    httpx.post(f"{receiver.url}/hooks/ci", content=body, headers=headers)
    httpx.post(f"{receiver.url}/hooks/ci", content=body, headers=headers)
    httpx.post(f"{receiver.url}/hooks/ci", content=body, headers={**headers, "X-Signature": "sha256=00"})

    metrics = httpx.get(f"{receiver.url}/metrics").text

    assert 'relay_webhooks_accepted_total{source="ci"}' in metrics
    assert 'relay_webhooks_duplicate_total{source="ci"}' in metrics
    assert 'relay_webhooks_rejected_total{reason="unauthorized",source="ci"}' in metrics
    assert "relay_queue_ready 1.0" in metrics  # the one accepted event waits: no worker runs in this test
    assert "relay_dead_letters 0.0" in metrics
    assert SECRET not in metrics


def test_an_event_stored_but_not_queued_is_healed_by_the_sweeper(
    receiver: Server,
    settings: Settings,
    redis_url: str,
    redis_client: redis.Redis,
    start_worker: Callable[..., Child],
) -> None:
    # Make the script's last step (the LPUSH) fail after the record was written: the crash between the two.
    redis_client.set(EVENTS_QUEUE, "not a list")
    body = b'{"status": "failed"}'
    headers = signed(body)

    answer = httpx.post(f"{receiver.url}/hooks/ci", content=body, headers=headers)

    assert answer.status_code == 503  # the sender is told to retry
    retried = httpx.post(f"{receiver.url}/hooks/ci", content=body, headers=headers)
    assert retried.status_code == 200
    event_id = retried.json()["event_id"]
    redis_client.delete(EVENTS_QUEUE)
    runtime = Runtime(settings, redis.Redis.from_url(redis_url), ConfigTokens(settings))

    assert requeue_stranded(runtime, idle_seconds=0) == [event_id]
    assert requeue_stranded(runtime, idle_seconds=0) == []  # its message is live now: not queued twice
    start_worker(redis_url)
    record = wait_for_event(EventStore(redis_client, retention_seconds=60), event_id, EventStatus.SKIPPED)
    assert record.attempts == 1


def test_records_keep_only_the_headers_that_matter(receiver: Server, redis_client: redis.Redis) -> None:
    body = json.dumps({"status": "success"}).encode()
    answer = httpx.post(f"{receiver.url}/hooks/ci", content=body, headers=signed(body))

    record = EventStore(redis_client, retention_seconds=60).get(answer.json()["event_id"])

    assert "x-signature" not in record.headers
    assert record.type == "build"
    assert record.payload == {"status": "success"}


def test_a_burst_larger_than_the_redis_pool_is_all_accepted(receiver: Server, redis_client: redis.Redis) -> None:
    deliveries = [json.dumps({"n": n}).encode() for n in range(REDIS_CONNECTIONS * 3)]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=len(deliveries)), timeout=30) as client:
            return await asyncio.gather(
                *(client.post(f"{receiver.url}/hooks/ci", content=body, headers=signed(body)) for body in deliveries)
            )

    answers = asyncio.run(burst())

    assert [a.status_code for a in answers] == [202] * len(deliveries)
    assert redis_client.llen(EVENTS_QUEUE) == len(deliveries)


def test_metrics_show_each_stored_tokens_time_to_expiry(
    receiver: Server, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("RELAY_TOKEN_KEY", key)
    TokenStore(redis_client, load_cipher()).add(
        "prod", "gw", "prod-token-secret-value", expires_at=int(time.time()) + 86400
    )

    metrics = httpx.get(f"{receiver.url}/metrics").text

    [sample] = [line for line in metrics.splitlines() if line.startswith("relay_token_expiry_seconds{")]
    assert 'token="prod"' in sample
    assert 86000 < float(sample.split()[-1]) <= 86400
    assert "prod-token-secret-value" not in metrics
    assert key not in metrics


# ---- served as `relay webhooks` serves it (issue 11): its uvicorn options, on a real socket ----------------


@pytest.fixture
def relay_served(write_config: Callable[[dict[str, Any]], Settings], redis_url: str) -> Iterator[str]:
    """The receiver under uvicorn with ``receiver_server_options``; a source that allows only 10.0.0.0/8."""
    config = {
        **CONFIG,
        "sources": {**CONFIG["sources"], "inside": {**CONFIG["sources"]["ci"], "allow": ["10.0.0.0/8"]}},
    }
    config["receiver"] = {"max_header_bytes": 16 * 1024}
    settings = write_config(config)
    port = free_port()
    options = receiver_server_options(settings.receiver)
    app = create_app(settings, redis_url=redis_url)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_forwarded_for_from_loopback_does_not_pass_an_allowlist(relay_served: str, redis_client: redis.Redis) -> None:
    body = b'{"status": "success"}'
    headers = {**signed(body), "X-Forwarded-For": "10.1.2.3"}

    answer = httpx.post(f"{relay_served}/hooks/inside", content=body, headers=headers)

    assert answer.status_code == 403
    assert answer.json() == {"error": "sender address not allowed"}
    assert redis_client.zcard("relay:events") == 0


def test_a_request_head_past_max_header_bytes_is_refused_unbuffered(relay_served: str) -> None:
    port = int(relay_served.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"POST /hooks/ci HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 * 1024))
        answer = conn.recv(4096)

    assert answer.startswith(b"HTTP/1.1 431")


def test_a_trailing_slash_with_a_foreign_host_is_not_redirected(relay_served: str) -> None:
    answer = httpx.post(f"{relay_served}/hooks/ci/", content=b"{}", headers={"Host": "evil.example"})

    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert set(answer.json()) == {"error"}


# ---- defaults that never refuse a real sender (issue 20): `relay webhooks` as a process --------------------------

BURST = 400  # one push to a repository with a large CI matrix: hundreds of deliveries within seconds


@pytest.fixture
def relay_webhooks(write_config: Callable[[dict[str, Any]], Settings], redis_url: str, tmp_path: Path) -> Iterator[str]:
    """``relay webhooks`` in its own process, with a GitHub source left at every default."""
    write_config({"data_dir": str(tmp_path), "sources": {"github": {"kind": "github", "secret": SECRET}}})
    port = free_port()
    env = {**os.environ, "RELAY_REDIS_URL": redis_url}
    argv = [sys.executable, "-m", "worker.cli", "webhooks", "--port", str(port)]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{url}/healthz"), timeout=30, what="relay webhooks to answer")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_burst_of_hundreds_of_deliveries_to_a_default_source_is_all_accepted(
    relay_webhooks: str, redis_client: redis.Redis
) -> None:
    # Signed beforehand and sent back to back over keep-alive connections, as fast as a sender's workers post them.
    port = int(relay_webhooks.rsplit(":", 1)[1])
    deliveries = loadgen.signed_requests(BURST, port, SECRET)

    result = loadgen.run_drive(port, deliveries, concurrency=32)

    assert result.statuses == {202: BURST}
    assert redis_client.llen(EVENTS_QUEUE) == BURST
    assert redis_client.zcard("relay:events") == BURST
