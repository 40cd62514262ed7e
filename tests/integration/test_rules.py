"""The example rules, end to end: what ``relay rules test`` shows is what the sandbox receives from a real webhook."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
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
from tests.support import ROOT, Sandbox, Server, github_delivery, wait_for_event
from worker.cli import main
from worker.config import load_settings
from worker.store.events import EventStatus, EventStore

pytestmark = pytest.mark.integration

PAYLOADS = ROOT / "tests" / "payloads"
SECRETS = {
    "GITHUB_WEBHOOK_SECRET": "example-github-secret",
    "GITLAB_WEBHOOK_TOKEN": "example-gitlab-token",
    "CODING_WEBHOOK_SECRET": "example-coding-secret",
    "FEISHU_OPS_SECRET": "example-feishu-secret",
    "DINGTALK_BUILDS_SECRET": "example-dingtalk-secret",
}


@pytest.fixture
def channel_sink(serve_app: Callable[[Any], Server]) -> tuple[Server, list[tuple[str, Any]]]:
    """A stand-in for the chat APIs: records each notification and answers success the way they do."""
    received: list[tuple[str, Any]] = []

    async def receive(request: Request) -> JSONResponse:
        received.append((request.url.path, await request.json()))
        return JSONResponse({"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"})

    return serve_app(Starlette(routes=[Route("/{channel}", receive, methods=["POST"])])), received


@pytest.fixture
def example_relay(
    tmp_path: Path,
    redis_url: str,
    sandbox: Sandbox,
    channel_sink: tuple[Server, list[tuple[str, Any]]],
    stack: Callable[..., Stack],
    monkeypatch: pytest.MonkeyPatch,
) -> Server:
    """The repository's relay.example.yaml, its admin APIs pointed at the sandbox and its channels at the sink."""
    sink, _ = channel_sink
    text = (ROOT / "relay.example.yaml").read_text()
    text = text.replace("https://api7.example.com:7443", sandbox.url).replace("https://e.coding.net", sandbox.url)
    config = tmp_path / "relay.yaml"
    config.write_text(text)
    environment = {
        **SECRETS,
        "API7_PROD_TOKEN": sandbox.token,
        "CODING_TOKEN": sandbox.token,
        "FEISHU_OPS_WEBHOOK": f"{sink.url}/ops",
        "WECOM_RELEASES_WEBHOOK": f"{sink.url}/releases",
        "DINGTALK_BUILDS_WEBHOOK": f"{sink.url}/builds",
        "RELAY_CONFIG": str(config),
        "RELAY_REDIS_URL": redis_url,
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        "RELAY_TOKEN_KEY": Fernet.generate_key().decode(),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    admin = {"X-API-KEY": sandbox.token}
    for service in ("orders-api", "checkout"):
        body = {
            "name": service,
            "upstream": {"type": "roundrobin", "nodes": [{"host": "a.svc", "port": 80, "weight": 1}]},
        }
        httpx.put(f"{sandbox.url}/apisix/admin/services/{service}", json=body, headers=admin).raise_for_status()
    httpx.delete(f"{sandbox.url}/_sandbox/requests").raise_for_status()
    return stack(load_settings()).receiver


def dry_run(source: str, event: str, payload: str) -> dict[str, Any]:
    """``relay rules test --json`` for a saved payload."""
    result = CliRunner().invoke(
        main, ["rules", "test", "--source", source, "--event", event, "--payload", str(PAYLOADS / payload), "--json"]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def deliver(receiver: Server, source: str, event: str, payload: Any) -> str:
    """Post the payload as its real sender would, signed with the example's secret."""
    if source == "github":
        arguments = github_delivery(payload, event=event, secret=SECRETS["GITHUB_WEBHOOK_SECRET"])
    else:
        headers = {"X-Gitlab-Token": SECRETS["GITLAB_WEBHOOK_TOKEN"], "X-Gitlab-Event": event}
        arguments = {"content": json.dumps(payload).encode(), "headers": headers}
    answer = httpx.post(f"{receiver.url}/hooks/{source}", **arguments)
    assert answer.status_code == 202, answer.text
    event_id: str = answer.json()["event_id"]
    return event_id


@pytest.mark.parametrize(
    ("source", "event", "payload"),
    [
        ("github", "release", "github_release.json"),
        ("gitlab", "Merge Request Hook", "gitlab_merge_request_merged.json"),
    ],
    ids=["publish-on-release", "label-service-on-merge"],
)
def test_the_sandbox_receives_exactly_what_the_dry_run_showed(
    example_relay: Server,
    sandbox: Sandbox,
    channel_sink: tuple[Server, list[tuple[str, Any]]],
    redis_client: redis.Redis,
    source: str,
    event: str,
    payload: str,
) -> None:
    planned = [action for rule in dry_run(source, event, payload)["matched"] for action in rule["actions"]]
    assert planned, "the example should have a rule for this event"

    event_id = deliver(example_relay, source, event, json.loads((PAYLOADS / payload).read_text()))

    wait_for_event(EventStore(redis_client, retention_seconds=60), event_id, EventStatus.DONE)
    calls = [
        (r["method"], r["path"], r["json"], r["idempotency_key"].replace(event_id, "evt_dry_run"))
        for r in sandbox.requests()
    ]
    assert calls == [
        (a["method"], a["path"], a["json"], a["headers"]["Idempotency-Key"]) for a in planned if a["kind"] == "call"
    ]
    assert all(r["authenticated"] for r in sandbox.requests())
    _, notified = channel_sink
    assert notified == [(f"/{a['channel']}", a["body"]) for a in planned if a["kind"] == "notify"]
