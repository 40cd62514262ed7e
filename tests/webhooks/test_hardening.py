"""Hostile senders and careless configuration at the HTTP level (issue 11): each refusal is JSON, nothing stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from ipaddress import ip_network
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from starlette.testclient import TestClient

from webhooks.app import create_app
from webhooks.network import MAX_FORWARDED_HOPS, client_ip
from webhooks.signatures import sign_hmac
from worker.config import Settings, load_settings
from worker.errors import ConfigError
from worker.store.events import EventStatus, EventStore

SECRET = "hardening-secret-0123"
SOURCES: dict[str, Any] = {
    "github": {"kind": "github", "secret": SECRET},
    "inside": {"kind": "github", "secret": SECRET, "allow": ["10.0.0.0/8"]},
    "slow": {"kind": "github", "secret": SECRET, "rate_per_second": 0.01, "burst": 2},
    "form": {"kind": "gitea", "secret": SECRET},
    "capped": {"kind": "github", "secret": SECRET, "max_waiting": 2},
    "bodydedup": {"kind": "github", "secret": SECRET, "dedup_by": "body"},
}


@pytest.fixture
def settings(write_config: Callable[[dict[str, Any]], Settings], redis_url: str) -> Settings:
    return write_config({"sources": SOURCES, "redis_url": redis_url, "receiver": {"metrics_token": "m" * 24}})


@pytest.fixture
def client(settings: Settings, redis_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings, redis_url=redis_url), raise_server_exceptions=False) as test_client:
        yield test_client


def github(body: bytes, content_type: str = "application/json") -> dict[str, str]:
    signature = sign_hmac(SECRET.encode(), body, "sha256", prefix="sha256=")
    return {"x-hub-signature-256": signature, "x-github-event": "push", "content-type": content_type}


DEEP_JSON = b"[" * 950 + b"]" * 950
DEEP_FORM = urlencode({"payload": DEEP_JSON.decode()}).encode()


@pytest.mark.parametrize(
    ("source", "body", "headers"),
    [
        ("github", DEEP_JSON, github(DEEP_JSON)),
        (
            "form",
            DEEP_FORM,
            {
                "x-gitea-signature": sign_hmac(
                    SECRET.encode(), urlencode({"payload": DEEP_JSON.decode()}).encode(), "sha256"
                ),
                "x-gitea-event": "push",
                "content-type": "application/x-www-form-urlencoded",
            },
        ),
    ],
    ids=["json", "form-payload"],
)
def test_deeply_nested_json_is_refused_at_the_door(
    client: TestClient, redis_client: redis.Redis, source: str, body: bytes, headers: dict[str, str]
) -> None:
    answer = client.post(f"/hooks/{source}", content=body, headers=headers)

    assert answer.status_code == 400
    assert "nested deeper than 64" in answer.json()["error"]
    assert redis_client.zcard("relay:events") == 0


def test_a_trailing_slash_is_a_json_404_not_a_redirect_to_the_host_header(client: TestClient) -> None:
    body = b"{}"
    answer = client.post(
        "/hooks/github/", content=body, headers={**github(body), "host": "evil.example"}, follow_redirects=False
    )

    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert answer.json() == {"error": "no route /hooks/github/"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/", 404), ("GET", "/hooks/x", 405), ("GET", "/nowhere", 404), ("DELETE", "/healthz", 405)],
)
def test_unknown_routes_and_methods_answer_json(client: TestClient, method: str, path: str, status: int) -> None:
    answer = client.request(method, path)

    assert answer.status_code == status
    assert set(answer.json()) == {"error"}


def test_the_allowlist_is_checked_before_the_body_is_read(client: TestClient) -> None:
    # The declared length is past max_body_bytes: a body read first would answer 413, not 403.
    answer = client.post("/hooks/inside", content=b"x" * 10, headers={"content-length": str(10 * 1024 * 1024)})

    assert answer.status_code == 403
    assert answer.json() == {"error": "sender address not allowed"}


def test_a_source_over_its_rate_gets_429_with_retry_after(client: TestClient, redis_client: redis.Redis) -> None:
    body = b'{"n": 1}'
    answers = [client.post("/hooks/slow", content=body, headers=github(body)) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [202, 200, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    assert "rate limit" in answers[2].json()["error"]
    assert redis_client.zcard("relay:events") == 1


def test_metrics_need_the_bearer_token_when_one_is_set(client: TestClient) -> None:
    refused = client.get("/metrics")
    allowed = client.get("/metrics", headers={"authorization": "Bearer " + "m" * 24})

    assert refused.status_code == 401
    assert set(refused.json()) == {"error"}
    assert allowed.status_code == 200


@pytest.mark.parametrize("secret", [" ", "", "short-secret"])
def test_a_blank_or_short_webhook_secret_is_refused_naming_the_source(secret: str) -> None:
    with pytest.raises(ConfigError, match=r"sources\.ci: a secret is blank or shorter than 16"):
        load_settings(sources={"ci": {"kind": "github", "secrets": [secret]}})


def test_only_the_last_forwarded_hops_are_examined() -> None:
    trusted = [ip_network("10.0.0.0/8")]
    chain = ", ".join(["10.0.0.1"] * (MAX_FORWARDED_HOPS + 5))

    # All the hops read are trusted proxies and more were left unread: the client cannot be told.
    assert client_ip("10.0.0.2", chain, trusted) is None
    assert str(client_ip("10.0.0.2", "203.0.113.9, " + ", ".join(["10.0.0.1"] * 5), trusted)) == "203.0.113.9"


def test_a_source_with_its_cap_of_waiting_events_gets_429_and_others_still_get_in(
    client: TestClient, redis_client: redis.Redis
) -> None:
    def post(source: str, n: int) -> Any:
        body = f'{{"n": {n}}}'.encode()
        return client.post(f"/hooks/{source}", content=body, headers={**github(body), "x-github-delivery": f"d-{n}"})

    answers = [post("capped", n) for n in range(3)]

    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert answers[2].json() == {"error": "source capped has 2 events waiting, its cap"}
    assert int(answers[2].headers["retry-after"]) >= 1
    assert redis_client.zcard("relay:pending:capped") == 2
    assert post("github", 9).status_code == 202  # one sender's flood leaves room for the others
    # A finished event makes room again.
    store = EventStore(redis_client, retention_seconds=60)
    record = store.get(answers[0].json()["event_id"])
    record.status = EventStatus.DONE
    store.save_status(record)
    assert post("capped", 3).status_code == 202


def test_dedup_by_body_catches_a_captured_delivery_replayed_under_a_new_id(client: TestClient) -> None:
    body = b'{"ref": "refs/heads/main"}'
    first = client.post("/hooks/bodydedup", content=body, headers={**github(body), "x-github-delivery": "d-1"})
    replayed = client.post("/hooks/bodydedup", content=body, headers={**github(body), "x-github-delivery": "d-2"})
    other = client.post("/hooks/github", content=body, headers={**github(body), "x-github-delivery": "d-2"})

    assert (first.status_code, replayed.status_code) == (202, 200)
    assert replayed.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    assert other.status_code == 202  # by default the sender's delivery id decides
