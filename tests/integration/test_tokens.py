"""Token lifecycle on real parts: Redis, the API7 sandbox over HTTP, a real Celery worker and the receiver."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
from click.testing import CliRunner
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.integration.support import Stack
from tests.support import Sandbox, Server, github_delivery, wait_for, wait_for_event
from worker.cli import main
from worker.config import Settings
from worker.store.events import EventStatus, EventStore
from worker.tokens.checker import TokenChecker
from worker.tokens.keys import parse_keys
from worker.tokens.records import TokenStatus
from worker.tokens.rotation import RotationOutcome
from worker.tokens.store import TokenStore

pytestmark = pytest.mark.integration

PREFIX = "/api/settings/tokens"
WEBHOOK_SECRET = "github-webhook-secret-for-token-tests"
KEY = Fernet.generate_key().decode()


@dataclass(frozen=True)
class ApiToken:
    """A token created at the sandbox for the test (not the bootstrap one, so it has an id to regenerate)."""

    id: str
    secret: str
    expires_at: int


@dataclass
class Inbox:
    """A notification channel that keeps what it receives."""

    url: str
    texts: list[str]


def create_api_token(sandbox: Sandbox, *, days: float = 10) -> ApiToken:
    """POST {prefix} with the bootstrap secret."""
    expires_at = int(time.time() + days * 86400)
    response = httpx.post(
        f"{sandbox.url}{PREFIX}",
        json={"name": f"relay-{uuid.uuid4().hex[:8]}", "expires_at": expires_at},
        headers={"X-API-KEY": sandbox.token},
        timeout=5,
    )
    response.raise_for_status()
    value = response.json()["value"]
    return ApiToken(value["id"], value["token"], expires_at)


def sandbox_accepts(sandbox: Sandbox, secret: str) -> int:
    """The sandbox's status for a cheap authenticated GET with ``secret``."""
    return httpx.get(f"{sandbox.url}/api/gateway_groups", headers={"X-API-KEY": secret}, timeout=5).status_code


@pytest.fixture
def inbox(serve_app: Callable[[Any], Server]) -> Inbox:
    """A webhook channel served over HTTP."""
    texts: list[str] = []

    async def receive(request: Request) -> JSONResponse:
        texts.append((await request.json())["text"])
        return JSONResponse({"ok": True})

    server = serve_app(Starlette(routes=[Route("/hook", receive, methods=["POST"])]))
    return Inbox(f"{server.url}/hook", texts)


@pytest.fixture
def configure(
    write_config: Callable[[dict[str, Any]], Settings],
    redis_url: str,
    sandbox: Sandbox,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Settings]:
    """Write a configuration with target ``gw`` (token ``gw-token`` from the store) and set the key."""
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    monkeypatch.setenv("RELAY_TOKEN_KEY", KEY)

    def write(**target: Any) -> Settings:
        return write_config(
            {
                "sources": {"github": {"kind": "github", "secret": WEBHOOK_SECRET}},
                "targets": {"gw": {"kind": "api7", "base_url": sandbox.url, "token": "gw-token", **target}},
                "channels": {"ops": {"kind": "webhook", "url": inbox.url}},
                "rules": [
                    {
                        "name": "list-groups-on-push",
                        "on": {"source": "github", "event": "push"},
                        "do": [{"call": "gw", "method": "GET", "path": "/api/gateway_groups"}],
                    }
                ],
                "tokens": {"lock_seconds": 20},
            }
        )

    return write


@pytest.fixture
def store(redis_client: redis.Redis) -> TokenStore:
    """The token store on the real Redis, with the test key."""
    return TokenStore(redis_client, parse_keys(KEY, origin="RELAY_TOKEN_KEY"))


def test_rotation_against_the_sandbox(
    configure: Callable[..., Settings], sandbox: Sandbox, store: TokenStore, inbox: Inbox
) -> None:
    configure()
    token = create_api_token(sandbox)
    store.add("gw-token", "gw", token.secret, token_id=token.id, expires_at=token.expires_at)

    result = CliRunner().invoke(main, ["tokens", "rotate", "gw-token"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "rotated to version 2" in result.output
    new = store.current("gw-token")
    assert new.version == 2
    assert new.secret.get_secret_value() not in result.output
    assert sandbox_accepts(sandbox, token.secret) == 401
    assert sandbox_accepts(sandbox, new.secret.get_secret_value()) == 200
    record = store.get("gw-token")
    assert record.status == TokenStatus.OK
    assert record.expires_at is not None
    assert abs(record.expires_at - (time.time() + 30 * 86400)) < 120  # tokens.rotate.new_lifetime_days
    kinds = [entry.kind for entry in store.history("gw-token")]
    assert kinds[:3] == ["rotation", "rotated", "rotation-started"]
    wait_for(lambda: any("rotated to version 2" in text for text in inbox.texts), what="the rotation notice")
    assert all(new.secret.get_secret_value() not in text for text in inbox.texts)


def test_a_lost_regenerate_answer_ends_invalid_with_an_alert_and_one_regenerate(
    configure: Callable[..., Settings], sandbox: Sandbox, store: TokenStore, inbox: Inbox
) -> None:
    configure(read_timeout=0.5)
    token = create_api_token(sandbox)
    store.add("gw-token", "gw", token.secret, token_id=token.id, expires_at=token.expires_at)
    regenerate = f"{PREFIX}/{token.id}/regenerate"
    # The sandbox sleeps past the client's read timeout, then regenerates: the answer is lost, the act is not.
    sandbox.fault(latency_ms=2000, count=1, path=regenerate)

    result = CliRunner().invoke(main, ["tokens", "rotate", "gw-token"], catch_exceptions=False)

    assert result.exit_code == 1
    assert "invalid" in result.output
    record = store.get("gw-token")
    assert (record.status, record.version) == (TokenStatus.INVALID, 1)
    assert len([r for r in sandbox.requests() if r["path"] == regenerate and r["method"] == "PUT"]) == 1
    assert sandbox_accepts(sandbox, token.secret) == 401
    alerts = wait_for(lambda: [text for text in inbox.texts if "no longer valid" in text], what="the alert")
    alert = alerts[0]
    assert "relay tokens set gw-token" in alert
    assert token.id in alert
    assert {"rotation-lost", "invalid"} <= {entry.kind for entry in store.history("gw-token")}

    listed = json.loads(CliRunner().invoke(main, ["tokens", "list", "--json"]).output)
    assert listed[0]["status"] == "invalid"


def test_rotating_under_load_drops_no_call(
    configure: Callable[..., Settings],
    sandbox: Sandbox,
    store: TokenStore,
    redis_client: redis.Redis,
    stack: Callable[..., Stack],
) -> None:
    settings = configure()
    token = create_api_token(sandbox)
    store.add("gw-token", "gw", token.secret, token_id=token.id, expires_at=token.expires_at)
    relay = stack(settings, concurrency=2)
    [worker], receiver = relay.workers, relay.receiver
    # Slow calls keep requests in flight across each regenerate.
    sandbox.fault(latency_ms=40, count=100_000, path="/api/gateway_groups")

    event_ids: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                delivery = github_delivery({"n": len(event_ids)}, secret=WEBHOOK_SECRET)
                response = client.post(f"{receiver.url}/hooks/github", **delivery)
                assert response.status_code == 202, response.text
                event_ids.append(response.json()["event_id"])
                time.sleep(0.01)

    events = EventStore(redis_client, retention_seconds=600)

    def more_done(count: int) -> Callable[[], bool]:
        """A condition: ``count`` more events are done than now."""
        target = done_count() + count
        return lambda: done_count() >= target

    def done_count() -> int:
        return sum(1 for event_id in list(event_ids) if events.get(event_id).status == EventStatus.DONE)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    rotator = TokenChecker(store, settings).rotator
    try:
        for round_ in range(3):
            wait_for(more_done(10), timeout=30, what="events flowing")
            rotation = rotator.rotate("gw-token", reason=f"load test {round_}")
            assert rotation.outcome == RotationOutcome.ROTATED, rotation.message
        wait_for(more_done(10), timeout=30, what="events flowing after the last rotation")
    finally:
        stop.set()
        producer.join(10)

    statuses = {}
    for event_id in event_ids:
        statuses[event_id] = wait_for_event(events, event_id, EventStatus.DONE, timeout=60).status
    assert set(statuses.values()) == {EventStatus.DONE}, worker.output()[-3000:]
    assert len(event_ids) >= 40
    assert store.current("gw-token").version == 4
    calls = [r for r in sandbox.requests() if r["path"] == "/api/gateway_groups"]
    refused = [r for r in calls if r["status"] == 401]
    # every refused call (an old secret in flight) was repeated with the new one: one success per event
    assert len([r for r in calls if r["status"] == 200]) == len(event_ids)
    assert len(calls) == len(event_ids) + len(refused)
    assert events.dead_letters() == []
