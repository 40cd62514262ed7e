"""The status page's endpoints: JSON from the system view, the event story, the page with its data, the token."""

from __future__ import annotations

import base64
import json
import re

import pytest
import redis
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.testclient import TestClient

from webhooks import statuspage
from worker.config import ReceiverConfig, Settings
from worker.store import history
from worker.store.events import EventRecord, EventStatus, EventStore


def _client(fake_redis: redis.Redis, token: str | None = None) -> TestClient:
    settings = Settings(
        redis_url="redis://unused", receiver=ReceiverConfig(metrics_token=SecretStr(token) if token else None)
    )
    return TestClient(Starlette(routes=statuspage.routes(lambda: fake_redis, settings)))


def _failed(fake_redis: redis.Redis, error: str) -> str:
    record = EventRecord("evt_1", "github", "push", "d-1", 100.0, {}, {"secret": "payload"}, status=EventStatus.FAILED,
                         error=error)  # fmt: skip
    EventStore(fake_redis, retention_seconds=3600).save(record, index=True)
    history.append(fake_redis, "evt_1", "attempt", attempt=1, worker="host:1")
    return record.id


def _embedded(html: str) -> dict[str, object]:
    match = re.search(r'<script id="relay-data" type="application/json">(.*?)</script>', html, re.S)
    assert match
    data: dict[str, object] = json.loads(match.group(1))
    return data


def test_the_json_names_each_part_and_the_page_embeds_the_same(fake_redis: redis.Redis) -> None:
    _failed(fake_redis, "rule 'r' action 0: HTTP 503: busy")
    client = _client(fake_redis)

    data = client.get("/status.json").json()
    page = client.get("/status")

    assert set(data["parts"]) == {"redis", "workers", "beat", "queue", "dead_letters", "tokens"}
    assert data["overview"]["dead_letters"] == 1
    assert data["overview"]["top_reasons"] == [{"reason": "HTTP 503", "count": 1}]
    assert page.headers["content-type"].startswith("text/html")
    assert _embedded(page.text)["status"]["overview"]["dead_letters"] == 1  # type: ignore[index]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text), "no external assets"


def test_an_events_story_without_its_payload(fake_redis: redis.Redis) -> None:
    event_id = _failed(fake_redis, "boom")
    client = _client(fake_redis)

    story = client.get(f"/status/events/{event_id}.json").json()
    page = client.get(f"/status/events/{event_id}")

    assert [step["kind"] for step in story["timeline"]] == ["received", "queued", "attempt"]
    assert "payload" not in story
    assert _embedded(page.text)["event"]["id"] == event_id  # type: ignore[index]
    assert client.get("/status/events/evt_nope.json").status_code == 404


def test_no_value_can_close_the_script_it_is_embedded_in(fake_redis: redis.Redis) -> None:
    _failed(fake_redis, "</script><script>alert(1)</script>")

    page = _client(fake_redis).get("/status").text

    assert "</script><script>alert(1)" not in page
    assert page.count("</script>") == 2


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, 401),
        ("Bearer wrong-token-0123456789", 401),
        ("Bearer metrics-token-0123456789", 200),
        ("Basic " + base64.b64encode(b"ops:metrics-token-0123456789").decode(), 200),
        ("Basic !!!", 401),
    ],
)
def test_the_metrics_token_protects_the_page(fake_redis: redis.Redis, authorization: str | None, code: int) -> None:
    client = _client(fake_redis, "metrics-token-0123456789")
    headers = {"Authorization": authorization} if authorization else {}

    answer = client.get("/status", headers=headers)

    assert answer.status_code == code
    if code == 401:
        assert answer.headers["www-authenticate"].startswith("Basic")
