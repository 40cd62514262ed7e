"""The receiver app in process (Starlette's TestClient) on real Redis: no client input yields a 500; start and stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.support import ROOT, wait_for
from webhooks.app import REDIS_CLIENT_NAME, _headers, create_app
from webhooks.signatures import decode_standard_secret, sign_hmac, sign_standard
from worker.config import Settings
from worker.store.events import EventStore

# Webhook secrets must be at least 16 characters at settings load.
S1 = "s1-0123456789abcdef"
SOURCES: dict[str, dict[str, Any]] = {
    "github": {"kind": "github", "secret": S1},
    "gitlab": {"kind": "gitlab", "secret": S1},
    "gitlab-signed": {"kind": "gitlab", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    "gitea": {"kind": "gitea", "secret": S1},
    "bitbucket": {"kind": "bitbucket", "secret": S1},
    "coding": {"kind": "coding", "secret": S1},
    "standard": {"kind": "standard", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    "hmac": {
        "kind": "hmac",
        "secret": S1,
        "header": "X-Sig",
        "timestamp_header": "X-Ts",
        "event_field": "a.b",
    },
    "hmac-field": {"kind": "hmac", "secret": S1, "header": "X-Sig", "event_field": "kind"},
    "hmac-bare": {
        "kind": "hmac",
        "secret": S1,
        "header": "X-Sig",
        "algorithm": "sha512",
        "encoding": "base64",
    },
    "hmac-headers": {
        "kind": "hmac",
        "secret": S1,
        "header": "X-Sig",
        "algorithm": "sha1",
        "prefix": "sha1=",
        "timestamp_header": "X-Ts",
        "event_header": "X-Event",
        "delivery_header": "X-Delivery",
    },
    "open": {"kind": "none", "allow": ["0.0.0.0/0", "::/0"], "trusted_proxies": ["127.0.0.0/8"]},
}

HEADER_NAMES = [
    "x-hub-signature-256", "x-hub-signature", "x-github-event", "x-github-delivery", "x-gitlab-token",
    "x-gitlab-event", "webhook-id", "webhook-timestamp", "webhook-signature", "x-gitea-signature",
    "x-forgejo-signature", "x-gitea-event", "x-event-key", "x-coding-signature", "x-coding-event",
    "content-type", "x-sig", "x-ts", "x-forwarded-for", "content-length", "idempotency-key", "x-event",
    "x-delivery",
]  # fmt: skip

header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    st.sampled_from(["sha256=00", "sha1=zz", "v1,AAAA v2,", "application/x-www-form-urlencoded", "1614265330", ""]),
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"{}", b"[]", b"null", b"1e999", b"payload=%7B%7D", b'{"a": {"b": 1}}', b"\xef\xbb\xbf{}"]),
)


@pytest.fixture
def client(write_config: Callable[[dict[str, Any]], Settings], redis_url: str) -> Iterator[TestClient]:
    settings = write_config({"sources": SOURCES, "redis_url": redis_url})
    with TestClient(create_app(settings, redis_url=redis_url), raise_server_exceptions=False) as test_client:
        yield test_client


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    source=st.sampled_from([*SOURCES, "unknown"]),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=8),
    body=bodies,
)
def test_random_deliveries_never_get_a_server_error(
    client: TestClient, source: str, headers: dict[str, str], body: bytes
) -> None:
    headers.pop("content-length", None)  # a lying length is the server's business, not the app's
    answer = client.post(f"/hooks/{source}", content=body, headers=headers)

    assert answer.status_code in {200, 202, 400, 401, 403, 404, 413, 429}, answer.text
    if answer.status_code >= 400:
        assert set(answer.json()) == {"error"}
        assert S1 not in answer.json()["error"]


# ---- correctly signed deliveries of random JSON: past the signature, into parsing and storage ----------------

KEY = S1.encode()
STANDARD_KEY = decode_standard_secret(SOURCES["standard"]["secret"])
# Where a source reads the event type from the body.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {"standard": ("type",), "hmac": ("a", "b"), "hmac-field": ("kind",)}
FORM = "application/x-www-form-urlencoded"


def signed_headers(source: str, body: bytes, *, event: str, delivery: str, msg_id: str) -> dict[str, str]:  # noqa: C901
    """What a sender configured like ``SOURCES[source]`` sends with ``body``, signed with the shared helpers."""
    now = str(int(time.time()))
    signature = sign_standard(STANDARD_KEY, msg_id, now, body)
    standard = {"webhook-id": msg_id, "webhook-timestamp": now, "webhook-signature": signature}
    match source:
        case "github":
            signature = sign_hmac(KEY, body, "sha256", prefix="sha256=")
            return {"x-hub-signature-256": signature, "x-github-event": event, "x-github-delivery": delivery}
        case "gitlab":
            return {"x-gitlab-token": KEY.decode(), "x-gitlab-event": event, "x-gitlab-event-uuid": delivery}
        case "gitlab-signed":
            return {**standard, "x-gitlab-event": event, "idempotency-key": delivery}
        case "gitea":
            signature = sign_hmac(KEY, body, "sha256")
            return {"x-gitea-signature": signature, "x-gitea-event": event, "x-gitea-delivery": delivery}
        case "bitbucket":
            signature = sign_hmac(KEY, body, "sha256", prefix="sha256=")
            return {"x-hub-signature": signature, "x-event-key": event, "x-request-uuid": delivery}
        case "coding":
            signature = sign_hmac(KEY, body, "sha1", prefix="sha1=")
            return {"x-coding-signature": signature, "x-coding-event": event, "x-coding-delivery": delivery}
        case "standard":
            return standard
        case "hmac":
            return {"x-sig": sign_hmac(KEY, f"{now}.".encode() + body, "sha256"), "x-ts": now}
        case "hmac-field":
            return {"x-sig": sign_hmac(KEY, body, "sha256")}
        case "hmac-bare":
            return {"x-sig": sign_hmac(KEY, body, "sha512", "base64")}
        case "hmac-headers":
            signature = sign_hmac(KEY, f"{now}.".encode() + body, "sha1", prefix="sha1=")
            return {"x-sig": signature, "x-ts": now, "x-event": event, "x-delivery": delivery}
    raise AssertionError(f"no signer for {source}")


def post_signed(
    client: TestClient,
    source: str,
    body: bytes,
    *,
    event: str = "push",
    delivery: str = "d-1",
    msg_id: str = "msg_1",
    content_type: str = "application/json",
) -> httpx.Response:
    """POST ``body`` to ``source`` as its sender would; header values are sent as their Latin-1 bytes."""
    headers = {
        "content-type": content_type,
        **signed_headers(source, body, event=event, delivery=delivery, msg_id=msg_id),
    }
    answer: httpx.Response = client.post(
        f"/hooks/{source}",
        content=body,
        headers=[(name.encode(), value.encode("latin-1")) for name, value in headers.items()],
    )
    return answer


# Any code point, lone surrogates included: Hypothesis leaves them out of text by default, and they are rare in
# the whole range, hence a branch where they are common (a JSON escape like "\ud800" decodes to one).
any_text = st.text(max_size=12) | st.lists(st.characters() | st.characters(categories=["Cs"]), max_size=12).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=20,
)
event_names = st.sampled_from(["push", "Push Hook", "repo:push", "", " "]) | any_text
# Header values as the app sees them: the Latin-1 reading of UTF-8 bytes. TestClient re-encodes header values
# as UTF-8 after httpx decoded them, so only bytes that are valid UTF-8 reach the app unchanged.
header_text = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=30).map(
    lambda text: text.encode().decode("latin-1")
)
event_headers = st.sampled_from(["push", "Push Hook", "repo:push", ""]) | header_text
# The Standard Webhooks id is signed as the receiver reads it, stripped: no padding, never blank.
message_ids = (
    st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=30)
    .map(lambda text: text.encode().decode("latin-1"))
    .filter(lambda text: text.strip() == text)
)


def documents(field: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Random JSON; for a source that reads its event type from ``field``, objects that have that field."""
    if not field:
        return json_values

    def place(siblings: dict[str, Any], event: Any) -> dict[str, Any]:
        document: dict[str, Any] = {**siblings}
        inner = document
        for part in field[:-1]:
            inner[part] = inner = {}
        inner[field[-1]] = event
        return document

    siblings = st.dictionaries(any_text, json_values, max_size=3)
    # Always the field, mostly a string: deliveries without one stop at parsing (test_sources covers that).
    return st.builds(place, siblings, st.one_of(event_names, event_names, json_values))


SIGNED_CASES = [
    pytest.param(source, form, id=f"{source}-form" if form else source)
    for source, form in [
        ("github", False), ("gitlab", False), ("gitlab-signed", False), ("gitea", False), ("bitbucket", False),
        ("coding", False), ("coding", True), ("standard", False), ("hmac", False), ("hmac-field", False),
        ("hmac-bare", False), ("hmac-headers", False),
    ]
]  # fmt: skip


@pytest.mark.parametrize(("source", "form"), SIGNED_CASES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_signed_random_json_is_stored_or_refused_never_a_server_error(
    client: TestClient, redis_client: redis.Redis, source: str, form: bool, data: st.DataObject
) -> None:
    document = data.draw(documents(EVENT_FIELDS.get(source, ())), label="document")
    # Escaped, a lone surrogate is valid JSON; raw (surrogatepass), it is invalid UTF-8: both must end in 400.
    text = json.dumps(document, ensure_ascii=data.draw(st.booleans(), label="ensure_ascii"))
    if form:
        body = urlencode({"payload": text}, encoding="utf-8", errors="surrogatepass").encode()
    else:
        body = text.encode("utf-8", "surrogatepass")
    answer = post_signed(
        client,
        source,
        body,
        event=data.draw(event_headers, label="event"),
        delivery=data.draw(header_text, label="delivery"),
        msg_id=data.draw(message_ids, label="msg_id"),
        content_type=FORM if form else "application/json",
    )

    assert answer.status_code in {200, 202, 400}, answer.text
    if answer.status_code == 400:
        assert set(answer.json()) == {"error"}
        return
    record = EventStore(redis_client, retention_seconds=60).get(answer.json()["event_id"])
    if answer.status_code == 202:
        # As JSON reads it back: escaped, a high and a low surrogate next to each other become one character.
        assert record.payload == json.loads(text)


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("standard", b'{"type": "\\ud800"}'),
        ("hmac", b'{"a": {"b": "push\\udc00"}}'),
        ("hmac-field", b'{"kind": "\\udfff"}'),
    ],
    ids=["standard", "hmac-nested-field", "hmac-field"],
)
def test_an_event_type_with_a_lone_surrogate_is_a_400_not_a_503(
    client: TestClient, redis_client: redis.Redis, source: str, body: bytes
) -> None:
    answer = post_signed(client, source, body)

    assert answer.status_code == 400
    assert answer.json() == {"error": "event type is not valid UTF-8"}
    assert redis_client.zcard("relay:events") == 0


def test_lone_surrogates_in_the_payload_are_stored_and_read_back(client: TestClient, redis_client: redis.Redis) -> None:
    document = {"type": "push", "\ud800": ["\udfff", {"key\udc00": "\ud83d"}]}

    answer = post_signed(client, "standard", json.dumps(document).encode())

    assert answer.status_code == 202, answer.text
    record = EventStore(redis_client, retention_seconds=60).get(answer.json()["event_id"])
    assert record.type == "push"
    assert record.payload == document


# Run in a fresh interpreter: in this one, another test may already have configured the global Celery app.
STANDALONE = """
import sys
from starlette.testclient import TestClient
from webhooks.app import create_app
from webhooks.signatures import sign_hmac
from worker.config import load_settings

settings = load_settings(sources={"ci": {"kind": "hmac", "secret": "ci-secret-0123456789", "header": "X-Sig"}})
body = b'{"status": "ok"}'
with TestClient(create_app(settings, redis_url=sys.argv[1])) as client:
    signature = sign_hmac(b"ci-secret-0123456789", body, "sha256")
    answer = client.post("/hooks/ci", content=body, headers={"x-sig": signature})
    print(answer.status_code, client.get("/readyz").status_code, client.get("/metrics").status_code)
"""


def test_create_app_needs_only_its_settings_and_redis_url(redis_url: str, tmp_path: Path) -> None:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("RELAY_")}
    environment["PYTHONPATH"] = str(ROOT)

    # No RELAY_* variable and no relay.yaml in the working directory: nothing global to fall back on.
    result = subprocess.run(
        [sys.executable, "-c", STANDALONE, redis_url],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["202", "200", "200"], result.stdout


def test_shutdown_closes_the_receivers_redis_connections(
    write_config: Callable[[dict[str, Any]], Settings], redis_url: str, redis_client: redis.Redis
) -> None:
    def receiver_connections() -> set[str]:
        return {entry["id"] for entry in redis_client.client_list() if entry["name"] == REDIS_CLIENT_NAME}

    earlier = receiver_connections()  # left by other tests on this shared server; not this app's
    app = create_app(write_config({"sources": SOURCES, "redis_url": redis_url}), redis_url=redis_url)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        assert post_signed(client, "standard", b'{"type": "push"}').status_code == 202
        opened = receiver_connections() - earlier
        assert opened

    wait_for(lambda: not opened & receiver_connections(), timeout=5, what="the receiver's connections to close")


def test_repeated_forwarded_for_headers_are_joined_in_order() -> None:
    raw = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-for", b"10.0.0.1"), (b"x-event", b"a")]

    assert _headers(raw) == {"x-forwarded-for": "203.0.113.7, 10.0.0.1", "x-event": "a"}
