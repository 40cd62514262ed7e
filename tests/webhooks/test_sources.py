"""Source kinds: real-format deliveries per sender, every rejection with its reason, and random input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import FrozenInstanceError
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhooks.sources import Delivery, Verifier, build_verifier
from worker.config import SourceConfig
from worker.errors import BadRequest, ConfigError, Rejected, Unauthorized

NOW = 1_700_000_000.0
STAMP = str(int(NOW))

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_KEY = base64.b64decode(STANDARD_SECRET.removeprefix("whsec_"))
STANDARD_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STANDARD_TIMESTAMP = 1614265330
STANDARD_BODY = b'{"test": 2432232314}'
STANDARD_VECTOR = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRETS = {
    "github": GITHUB_SECRET,
    "gitlab": "glpat-like-plain-token",
    "gitlab-signed": STANDARD_SECRET,
    "gitea": "gitea-secret",
    "bitbucket": "bitbucket-secret",
    "coding": "coding-secret",
    "standard": STANDARD_SECRET,
    "hmac": "ci-secret",
    "hmac-b64": "another-ci-secret",
}
CONFIGS: dict[str, SourceConfig] = {
    "github": SourceConfig(kind="github", secret=SECRETS["github"]),
    "gitlab": SourceConfig(kind="gitlab", secret=SECRETS["gitlab"]),
    "gitlab-signed": SourceConfig(kind="gitlab", secret=SECRETS["gitlab-signed"]),
    "gitea": SourceConfig(kind="gitea", secret=SECRETS["gitea"]),
    "bitbucket": SourceConfig(kind="bitbucket", secret=SECRETS["bitbucket"]),
    "coding": SourceConfig(kind="coding", secret=SECRETS["coding"]),
    "standard": SourceConfig(kind="standard", secret=SECRETS["standard"]),
    "hmac": SourceConfig(
        kind="hmac",
        secret=SECRETS["hmac"],
        header="X-Signature",
        prefix="sha256=",
        timestamp_header="X-Timestamp",
        event_header="X-Event",
        delivery_header="X-Delivery",
    ),
    "hmac-b64": SourceConfig(
        kind="hmac",
        secret=SECRETS["hmac-b64"],
        header="X-Signature",
        algorithm="sha512",
        encoding="base64",
        event_field="event.name",
    ),
    "none": SourceConfig(kind="none", allow=["10.0.0.0/8"]),
}
VERIFIERS: dict[str, Verifier] = {name: build_verifier(config) for name, config in CONFIGS.items()}
CREDENTIAL_HEADERS = {
    "x-hub-signature",
    "x-hub-signature-256",
    "x-gitlab-token",
    "x-gitea-signature",
    "x-forgejo-signature",
    "x-gogs-signature",
    "x-coding-signature",
    "webhook-signature",
    "x-signature",
    "authorization",
}


def mac(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def standard(key: bytes, msg_id: str, stamp: str, body: bytes) -> dict[str, str]:
    digest = mac(key, f"{msg_id}.{stamp}.".encode() + body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def sign(source: str, body: bytes) -> dict[str, str]:
    """The credential headers a real sender would add for this body (computed independently of webhooks/)."""
    secret = SECRETS.get(source, "")
    if source == "github":
        return {"x-hub-signature-256": "sha256=" + mac(secret, body).hex()}
    if source == "gitlab":
        return {"x-gitlab-token": secret}
    if source in ("gitlab-signed", "standard"):
        return standard(STANDARD_KEY, "msg_1", STAMP, body)
    if source == "gitea":
        return {"x-gitea-signature": mac(secret, body).hex()}
    if source == "bitbucket":
        return {"x-hub-signature": "sha256=" + mac(secret, body).hex()}
    if source == "coding":
        return {"x-coding-signature": "sha1=" + mac(secret, body, "sha1").hex()}
    if source == "hmac":
        return {"x-signature": "sha256=" + mac(secret, f"{STAMP}.".encode() + body).hex(), "x-timestamp": STAMP}
    if source == "hmac-b64":
        return {"x-signature": base64.b64encode(mac(secret, body, "sha512")).decode()}
    return {}


def body_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def reject(source: str, headers: dict[str, str], body: bytes, now: float = NOW) -> Rejected:
    with pytest.raises(Rejected) as caught:
        VERIFIERS[source](headers, body, now)
    return caught.value


# ---- real-format deliveries ----------------------------------------------------------------------------

PUSH = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "acme/relay"}}).encode()
FORM_PUSH = urlencode({"payload": PUSH.decode()}).encode()
FORM = "application/x-www-form-urlencoded"


def case(source: str, headers: dict[str, str], body: bytes, event: str, delivery: str | None) -> Any:
    return pytest.param(source, {**headers, **sign(source, body)}, body, event, delivery, id=source + ":" + event)


ACCEPTED = [
    case(
        "github",
        {
            "x-github-event": "push",
            "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "x-github-hook-id": "292430182",
            "x-github-hook-installation-target-id": "79929171",
            "x-github-hook-installation-target-type": "repository",
            "x-hub-signature": "sha1=" + mac(GITHUB_SECRET, PUSH, "sha1").hex(),
            "user-agent": "GitHub-Hookshot/044aadd",
            "content-type": "application/json",
        },
        PUSH,
        "push",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    ),
    case(
        "github",
        {"x-github-event": "ping", "x-github-delivery": "d-1", "content-type": f"{FORM}; charset=utf-8"},
        FORM_PUSH,
        "ping",
        "d-1",
    ),
    case(
        "gitlab",
        {
            "x-gitlab-event": "Push Hook",
            "x-gitlab-event-uuid": "13792a34-cac6-4fda-95a8-c58e00a3954e",
            "x-gitlab-webhook-uuid": "4a6c3a5e-2c4a-4d1f-9f1a-0f6b3f1d2c3b",
            "x-gitlab-instance": "https://gitlab.example.com",
            "idempotency-key": "f5e5f430-f57b-4e6e-9fac-d9128cd7232f",
            "user-agent": "GitLab/17.5.0",
            "content-type": "application/json",
        },
        PUSH,
        "Push Hook",
        "f5e5f430-f57b-4e6e-9fac-d9128cd7232f",
    ),
    case(
        "gitlab", {"x-gitlab-event": "Tag Push Hook", "x-gitlab-event-uuid": "uuid-2"}, PUSH, "Tag Push Hook", "uuid-2"
    ),
    case("gitlab", {"x-gitlab-event": "Note Hook"}, PUSH, "Note Hook", None),
    case(
        "gitlab-signed",
        {"x-gitlab-event": "Merge Request Hook", "idempotency-key": "msg_1", "x-gitlab-token": "unused"},
        PUSH,
        "Merge Request Hook",
        "msg_1",
    ),
    case(
        "gitea",
        {
            "x-gitea-event": "push",
            "x-gitea-event-type": "push",
            "x-gitea-delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
            "x-gogs-event": "push",
            "x-gogs-signature": "whatever",
            "x-hub-signature-256": "sha256=whatever",
            "user-agent": "Go-http-client/1.1",
            "content-type": "application/json",
        },
        PUSH,
        "push",
        "f6266f16-1bf3-46a5-9ea4-602e06ead473",
    ),
    case("gitea", {"x-gitea-event": "issues", "content-type": FORM}, FORM_PUSH, "issues", None),
    case(
        "bitbucket",
        {
            "x-event-key": "repo:push",
            "x-request-uuid": "afc6a4d5-1b36-4b8e-8b0a-3e8b5f6a8a1f",
            "x-hook-uuid": "{0d1b2c3d-0000-4000-8000-000000000000}",
            "x-attempt-number": "1",
            "user-agent": "Bitbucket-Webhooks/2.0",
            "content-type": "application/json",
        },
        PUSH,
        "repo:push",
        "afc6a4d5-1b36-4b8e-8b0a-3e8b5f6a8a1f",
    ),
    case("bitbucket", {"x-event-key": "pr:opened", "x-request-id": "dc-1"}, PUSH, "pr:opened", "dc-1"),
    case(
        "coding",
        {
            "x-coding-event": "GIT_PUSHED",
            "x-coding-delivery": "5f8b1e0c-1d2e-4f3a-9b8c-7d6e5f4a3b2c",
            "x-coding-webhook-version": "v2",
            "user-agent": "Coding.net Hook",
            "content-type": FORM,
        },
        FORM_PUSH,
        "GIT_PUSHED",
        "5f8b1e0c-1d2e-4f3a-9b8c-7d6e5f4a3b2c",
    ),
    case("coding", {"x-coding-event": "MR_CREATED", "content-type": "application/json"}, PUSH, "MR_CREATED", None),
    case(
        "standard",
        {"user-agent": "Svix-Webhooks/1.0"},
        b'{"type": "invoice.paid", "data": {}}',
        "invoice.paid",
        "msg_1",
    ),
    case("hmac", {"x-event": "build.finished", "x-delivery": "ci-7"}, PUSH, "build.finished", "ci-7"),
    case("hmac-b64", {}, b'{"event": {"name": "deploy"}}', "deploy", None),
    case("none", {"user-agent": "curl/8"}, b"[1, 2]", "unknown", None),
]


@pytest.mark.parametrize(("source", "headers", "body", "event", "delivery"), ACCEPTED)
def test_real_format_deliveries_are_accepted(
    source: str, headers: dict[str, str], body: bytes, event: str, delivery: str | None
) -> None:
    result = VERIFIERS[source](headers, body, NOW)
    assert result.event_type == event
    assert result.delivery_id == (delivery or body_hash(body))
    expected_payload = json.loads(PUSH) if body == FORM_PUSH else json.loads(body)
    assert result.payload == expected_payload
    assert not CREDENTIAL_HEADERS & set(result.headers)
    assert all(result.headers[name] == headers[name] for name in result.headers)
    for name in ("user-agent", "content-type"):
        assert result.headers.get(name) == headers.get(name)


def test_the_record_keeps_the_senders_event_and_delivery_headers() -> None:
    headers = {"x-github-event": "push", "x-github-delivery": "d", "x-github-hook-id": "1", "x-other": "no"}
    result = VERIFIERS["github"]({**headers, **sign("github", PUSH)}, PUSH, NOW)
    assert result.headers == {"x-github-event": "push", "x-github-delivery": "d", "x-github-hook-id": "1"}
    with pytest.raises(FrozenInstanceError):
        result.event_type = "other"  # type: ignore[misc]


def test_forgejo_headers_alone_are_enough() -> None:
    secret = SECRETS["gitea"]
    headers = {
        "x-forgejo-event": "push",
        "x-forgejo-delivery": "fj-1",
        "x-forgejo-signature": mac(secret, PUSH).hex(),
    }
    result = VERIFIERS["gitea"](headers, PUSH, NOW)
    assert (result.event_type, result.delivery_id) == ("push", "fj-1")
    assert "x-forgejo-signature" not in result.headers


def test_github_documentation_vector_passes_the_signature_check() -> None:
    # "Hello, World!" is signed correctly but is no JSON: the answer is 400, not 401.
    error = reject("github", {"x-hub-signature-256": GITHUB_VECTOR, "x-github-event": "push"}, b"Hello, World!")
    assert isinstance(error, BadRequest)
    assert error.reason == "body is not valid JSON"


def test_standard_webhooks_vector_passes_the_signature_check() -> None:
    headers = {
        "webhook-id": STANDARD_ID,
        "webhook-timestamp": str(STANDARD_TIMESTAMP),
        "webhook-signature": STANDARD_VECTOR,
    }
    error = reject("standard", headers, STANDARD_BODY, STANDARD_TIMESTAMP)
    assert isinstance(error, BadRequest)
    assert error.reason == "payload has no string field 'type'"
    counting = build_verifier(SourceConfig(kind="standard", secret=STANDARD_SECRET, event_field="test"))
    with pytest.raises(BadRequest, match="'test'"):
        counting(headers, STANDARD_BODY, STANDARD_TIMESTAMP)  # the field is a number, not a name
    gitlab = VERIFIERS["gitlab-signed"](
        {**headers, "x-gitlab-event": "Push Hook"}, STANDARD_BODY, STANDARD_TIMESTAMP + 1
    )
    assert gitlab.payload == {"test": 2432232314}


def test_several_secrets_second_one_matches() -> None:
    for kind, header, value in [
        ("github", "x-hub-signature-256", "sha256=" + mac("new", PUSH).hex()),
        ("gitea", "x-gitea-signature", mac("new", PUSH).hex()),
        ("gitlab", "x-gitlab-token", "new"),
    ]:
        verify = build_verifier(SourceConfig(kind=kind, secret="old", secrets=["new"]))
        headers = {header: value, "x-github-event": "e", "x-gitea-event": "e", "x-gitlab-event": "e"}
        assert verify(headers, PUSH, NOW).event_type == "e"
    verify = build_verifier(SourceConfig(kind="standard", secret="whsec_b2xk", secrets=[STANDARD_SECRET]))
    assert verify(standard(STANDARD_KEY, "m", STAMP, b'{"type": "t"}'), b'{"type": "t"}', NOW).event_type == "t"


def test_gitlab_with_both_token_kinds_configured() -> None:
    verify = build_verifier(SourceConfig(kind="gitlab", secret="plain", secrets=[STANDARD_SECRET]))
    base = {"x-gitlab-event": "Push Hook"}
    assert verify({**base, "x-gitlab-token": "plain"}, PUSH, NOW).event_type == "Push Hook"
    assert verify({**base, **standard(STANDARD_KEY, "m", STAMP, PUSH)}, PUSH, NOW).delivery_id == body_hash(PUSH)
    # A signature that is present is checked; the plain token does not rescue a bad one.
    forged = {**base, **standard(b"wrong", "m", STAMP, PUSH), "x-gitlab-token": "plain"}
    with pytest.raises(Unauthorized, match="signature mismatch"):
        verify(forged, PUSH, NOW)


def test_gitlab_plain_token_ignores_signature_headers_it_cannot_check() -> None:
    headers = {"x-gitlab-event": "Push Hook", "x-gitlab-token": SECRETS["gitlab"], **standard(b"k", "m", STAMP, PUSH)}
    assert VERIFIERS["gitlab"](headers, PUSH, NOW).event_type == "Push Hook"


# ---- rejections ----------------------------------------------------------------------------------------


def tampered(source: str, headers: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
    return source, {**headers, **sign(source, PUSH)}, PUSH.replace(b"main", b"evil")


REJECTED = [
    # missing credentials
    ("github", {"x-github-event": "push"}, PUSH, Unauthorized, "missing X-Hub-Signature-256 header"),
    (
        "github",
        {"x-hub-signature": "sha1=" + mac(GITHUB_SECRET, PUSH, "sha1").hex()},
        PUSH,
        Unauthorized,
        "missing X-Hub-Signature-256 header",
    ),
    ("gitlab", {"x-gitlab-event": "Push Hook"}, PUSH, Unauthorized, "missing X-Gitlab-Token header"),
    ("gitlab-signed", {"x-gitlab-token": STANDARD_SECRET}, PUSH, Unauthorized, "missing webhook-signature header"),
    ("gitea", {"x-gitea-signature": ""}, PUSH, Unauthorized, "missing X-Gitea-Signature or X-Forgejo-Signature header"),
    (
        "bitbucket",
        {"x-hub-signature-256": "sha256=" + mac("bitbucket-secret", PUSH).hex()},
        PUSH,
        Unauthorized,
        "missing X-Hub-Signature header",
    ),
    ("coding", {}, PUSH, Unauthorized, "missing X-Coding-Signature header"),
    (
        "standard",
        {"webhook-signature": "v1,x", "webhook-id": "m"},
        PUSH,
        Unauthorized,
        "missing webhook-timestamp header",
    ),
    ("hmac", {}, PUSH, Unauthorized, "missing X-Signature header"),
    (
        "hmac",
        {"x-signature": "sha256=" + mac("ci-secret", PUSH).hex()},
        PUSH,
        Unauthorized,
        "missing X-Timestamp header",
    ),
    # tampered bodies
    (*tampered("github", {"x-github-event": "push"}), Unauthorized, "signature mismatch"),
    (*tampered("gitea", {}), Unauthorized, "signature mismatch"),
    (*tampered("bitbucket", {}), Unauthorized, "signature mismatch"),
    (*tampered("coding", {}), Unauthorized, "signature mismatch"),
    (*tampered("standard", {}), Unauthorized, "signature mismatch"),
    (*tampered("gitlab-signed", {}), Unauthorized, "signature mismatch"),
    (*tampered("hmac", {}), Unauthorized, "signature mismatch"),
    (*tampered("hmac-b64", {}), Unauthorized, "signature mismatch"),
    # wrong prefixes and algorithms
    (
        "github",
        {"x-hub-signature-256": mac(GITHUB_SECRET, PUSH).hex()},
        PUSH,
        Unauthorized,
        "malformed signature (expected sha256=<hex>)",
    ),
    (
        "github",
        {"x-hub-signature-256": "sha1=" + mac(GITHUB_SECRET, PUSH, "sha1").hex()},
        PUSH,
        Unauthorized,
        "malformed signature (expected sha256=<hex>)",
    ),
    (
        "gitea",
        {"x-gitea-signature": "sha256=" + mac("gitea-secret", PUSH).hex()},
        PUSH,
        Unauthorized,
        "malformed signature (expected <hex>)",
    ),
    (
        "bitbucket",
        {"x-hub-signature": "sha1=" + mac("bitbucket-secret", PUSH, "sha1").hex()},
        PUSH,
        Unauthorized,
        "malformed signature (expected sha256=<hex>)",
    ),
    (
        "coding",
        {"x-coding-signature": "sha256=" + mac("coding-secret", PUSH).hex()},
        PUSH,
        Unauthorized,
        "malformed signature (expected sha1=<hex>)",
    ),
    (
        "coding",
        {"x-coding-signature": "sha1=" + mac("coding-secret", PUSH, "sha256").hex()},
        PUSH,
        Unauthorized,
        "malformed signature (expected sha1=<hex>)",
    ),
    (
        "hmac-b64",
        {"x-signature": base64.b64encode(mac("another-ci-secret", PUSH)).decode()},
        PUSH,
        Unauthorized,
        "malformed signature (expected <base64>)",
    ),
    (
        "hmac-b64",
        {"x-signature": mac("another-ci-secret", PUSH, "sha512").hex()},
        PUSH,
        Unauthorized,
        "malformed signature (expected <base64>)",
    ),
    (
        "standard",
        {**sign("standard", PUSH), "webhook-signature": "v1a,AAAA"},
        PUSH,
        Unauthorized,
        "malformed signature (expected v1,<base64>)",
    ),
    # wrong secret or token
    ("gitlab", {"x-gitlab-token": "guess"}, PUSH, Unauthorized, "token mismatch"),
    ("github", {"x-hub-signature-256": "sha256=" + mac("guess", PUSH).hex()}, PUSH, Unauthorized, "signature mismatch"),
    # timestamps
    (
        "standard",
        standard(STANDARD_KEY, "m", str(int(NOW) - 301), PUSH),
        PUSH,
        Unauthorized,
        "timestamp outside tolerance",
    ),
    (
        "standard",
        standard(STANDARD_KEY, "m", str(int(NOW) + 301), PUSH),
        PUSH,
        Unauthorized,
        "timestamp outside tolerance",
    ),
    (
        "gitlab-signed",
        standard(STANDARD_KEY, "m", str(int(NOW) - 3600), PUSH),
        PUSH,
        Unauthorized,
        "timestamp outside tolerance",
    ),
    ("standard", standard(STANDARD_KEY, "m", "now", PUSH), PUSH, Unauthorized, "malformed webhook-timestamp header"),
    (
        "hmac",
        {**sign("hmac", PUSH), "x-timestamp": str(int(NOW) - 301)},
        PUSH,
        Unauthorized,
        "timestamp outside tolerance",
    ),
    (
        "hmac",
        {**sign("hmac", PUSH), "x-timestamp": str(int(NOW) + 301)},
        PUSH,
        Unauthorized,
        "timestamp outside tolerance",
    ),
    ("hmac", {**sign("hmac", PUSH), "x-timestamp": "soon"}, PUSH, Unauthorized, "malformed X-Timestamp header"),
]


def signed_bad(source: str, headers: dict[str, str], body: bytes, reason: str) -> Any:
    return pytest.param(source, {**headers, **sign(source, body)}, body, BadRequest, reason, id=f"{source}:{reason}")


DEEP = "body is nested deeper than 64 levels"

BAD_BODIES = [
    signed_bad("github", {"x-github-event": "push"}, b"", "body is empty"),
    signed_bad("github", {"x-github-event": "push"}, b"{", "body is not valid JSON"),
    signed_bad("github", {"x-github-event": "push"}, b'"text"', "body is not a JSON object or array"),
    signed_bad("github", {"x-github-event": "push"}, b"42", "body is not a JSON object or array"),
    signed_bad("github", {"x-github-event": "push"}, b"null", "body is not a JSON object or array"),
    signed_bad("github", {"x-github-event": "push"}, b'{"n": NaN}', "body is not valid JSON"),
    signed_bad("github", {"x-github-event": "push"}, b'{"n": 1e999}', "body is not valid JSON"),
    signed_bad("github", {"x-github-event": "push"}, b"[" * 100_000 + b"]" * 100_000, DEEP),
    signed_bad("github", {"x-github-event": "push"}, b"[" * 950 + b"]" * 950, DEEP),
    signed_bad("github", {"x-github-event": "push"}, b'{"a":' * 65 + b"1" + b"}" * 65, DEEP),
    signed_bad("github", {"x-github-event": "push"}, b'{"a": "\xff"}', "body is not valid UTF-8"),
    signed_bad("github", {"x-github-event": "push"}, b'{"n": ' + b"9" * 5000 + b"}", "body is not valid JSON"),
    signed_bad("github", {"x-github-delivery": "d"}, PUSH, "missing X-GitHub-Event header"),
    signed_bad("github", {"x-github-event": "e" * 257}, PUSH, "event type too long"),
    signed_bad("github", {"x-github-event": "push", "x-github-delivery": "d" * 257}, PUSH, "delivery id too long"),
    signed_bad("gitlab", {}, PUSH, "missing X-Gitlab-Event header"),
    signed_bad("gitea", {}, PUSH, "missing X-Gitea-Event or X-Forgejo-Event header"),
    signed_bad("bitbucket", {}, PUSH, "missing X-Event-Key header"),
    signed_bad("coding", {}, PUSH, "missing X-Coding-Event header"),
    signed_bad(
        "coding", {"x-coding-event": "e", "content-type": FORM}, b"data=%7B%7D", "form body has no payload field"
    ),
    signed_bad(
        "coding",
        {"x-coding-event": "e", "content-type": FORM},
        b"payload=1&payload=2",
        "form body has more than one payload field",
    ),
    signed_bad(
        "coding", {"x-coding-event": "e", "content-type": FORM}, b"payload=%7B", "payload field is not valid JSON"
    ),
    signed_bad("coding", {"x-coding-event": "e", "content-type": FORM}, b"payload=%ff", "form body is not valid UTF-8"),
    signed_bad(
        "coding",
        {"x-coding-event": "e", "content-type": FORM},
        b"payload=7",
        "payload field is not a JSON object or array",
    ),
    signed_bad(
        "coding",
        {"x-coding-event": "e", "content-type": FORM},
        b"&".join([b"a=1"] * 200),
        "form body has too many fields",
    ),
    # A form-encoded body is JSON for senders that only post JSON.
    signed_bad("bitbucket", {"x-event-key": "e", "content-type": FORM}, FORM_PUSH, "body is not valid JSON"),
    signed_bad("standard", {}, b'{"data": {}}', "payload has no string field 'type'"),
    signed_bad("standard", {}, b'{"type": 3}', "payload has no string field 'type'"),
    signed_bad("standard", {}, b'[{"type": "a"}]', "payload has no string field 'type'"),
    signed_bad("hmac", {}, PUSH, "missing X-Event header"),
    signed_bad("hmac-b64", {}, b'{"event": "flat"}', "payload has no string field 'event.name'"),
    # A JSON escape can spell a lone surrogate, which has no UTF-8 form for the store.
    signed_bad("standard", {}, b'{"type": "\\ud800"}', "event type is not valid UTF-8"),
    signed_bad("standard", {}, b'{"type": "ok\\udfff"}', "event type is not valid UTF-8"),
    signed_bad("hmac-b64", {}, b'{"event": {"name": "\\udc00"}}', "event type is not valid UTF-8"),
    # Only a caller that builds headers itself can pass one (ASGI decodes them as Latin-1); checked all the same.
    signed_bad(
        "github", {"x-github-event": "push", "x-github-delivery": "d\ud800"}, PUSH, "delivery id is not valid UTF-8"
    ),
]


@pytest.mark.parametrize(("source", "headers", "body", "error", "reason"), REJECTED + BAD_BODIES)
def test_rejections_name_what_was_wrong(
    source: str, headers: dict[str, str], body: bytes, error: type[Rejected], reason: str
) -> None:
    caught = reject(source, headers, body)
    assert type(caught) is error
    assert caught.reason == reason
    secret = SECRETS.get(source, "")
    expected = sign(source, body)
    leaks = [secret, secret.removeprefix("whsec_"), *expected.values()]
    leaks += [value.partition("=")[2] for value in expected.values()]
    leaks += [value.partition(",")[2] for value in expected.values()]
    assert not [leak for leak in leaks if len(leak) > 8 and leak in caught.reason]


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 123456789012345678901234567890}',  # past 64 bits: kept exact, not a float
        b'{"id": -9223372036854775809, "n": 9223372036854775807}',
        b'[1,\n 123456789012345678901234567890, {"sha": "0000000000000000000000000000000000000123"}]',
        b'{"message": "\\ud83d\\ude00 and a lone \\ud800"}',  # a pair and a lone surrogate escape, as before
        b'{"ref": "refs/heads/main", "size": 1.5e300, "ok": true, "none": null}',
        b'\xef\xbb\xbf{"bom": 1}',
    ],
)
def test_bodies_parse_to_what_the_standard_library_gives(body: bytes) -> None:
    delivery = VERIFIERS["github"]({"x-github-event": "push", **sign("github", body)}, body, NOW)

    expected = json.loads(body.decode("utf-8-sig"))
    assert delivery.payload == expected
    assert json.dumps(delivery.payload) == json.dumps(expected)  # same types too (an int stays an int)


def test_signature_is_checked_before_the_body_is_parsed() -> None:
    error = reject("github", {"x-hub-signature-256": "sha256=" + "0" * 64}, b"not json")
    assert isinstance(error, Unauthorized)


# ---- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        SourceConfig(kind="standard", secret="whsec_%%%not-base64%%%"),
        SourceConfig(kind="gitlab", secret="whsec_%%%not-base64%%%"),
        SourceConfig(kind="github", secret="fine", secrets=[""]),
        SourceConfig(kind="github", secret="lone\ud800surrogate"),
        SourceConfig(kind="standard", secret=STANDARD_SECRET, event_field="data..type"),
    ],
)
def test_bad_configuration_stops_start_up_without_quoting_the_secret(config: SourceConfig) -> None:
    with pytest.raises(ConfigError) as caught:
        build_verifier(config)
    assert "%%%not-base64%%%" not in str(caught.value)
    assert "surrogate" not in str(caught.value)
    assert config.kind in str(caught.value)


def test_a_secret_read_from_a_non_utf8_environment_keeps_its_bytes() -> None:
    verify = build_verifier(SourceConfig(kind="github", secret=b"caf\xe9".decode("utf-8", "surrogateescape")))
    headers = {"x-hub-signature-256": "sha256=" + mac(b"caf\xe9", PUSH).hex(), "x-github-event": "push"}
    assert verify(headers, PUSH, NOW).event_type == "push"


def test_standard_event_field_may_be_nested_and_configured() -> None:
    verify = build_verifier(SourceConfig(kind="standard", secret="raw-key", event_field="data.kind"))
    body = b'{"data": {"kind": "user.created"}}'
    result = verify(standard(b"raw-key", "m-9", STAMP, body), body, NOW)
    assert (result.event_type, result.delivery_id) == ("user.created", "m-9")
    assert set(result.headers) == {"webhook-id", "webhook-timestamp"}


def test_hmac_event_header_falls_back_to_the_configured_field() -> None:
    config = SourceConfig(kind="hmac", secret="s", header="X-Sig", event_header="X-Kind", event_field="kind")
    verify = build_verifier(config)
    body = b'{"kind": "from-field"}'
    headers = {"x-sig": mac("s", body).hex()}
    assert verify(headers, body, NOW).event_type == "from-field"
    assert verify({**headers, "x-kind": "from-header"}, body, NOW).event_type == "from-header"


def test_hmac_never_keeps_its_signature_header_even_if_named_as_event_header() -> None:
    config = SourceConfig(kind="hmac", secret="s", header="X-Sig", event_header="X-Sig", delivery_header="Cookie")
    verify = build_verifier(config)
    headers = {"x-sig": mac("s", b"{}").hex(), "cookie": "session=1"}
    assert verify(headers, b"{}", NOW).headers == {}


# ---- random input --------------------------------------------------------------------------------------

HEADER_NAMES = sorted(
    CREDENTIAL_HEADERS
    | {
        "content-type",
        "user-agent",
        "x-github-event",
        "x-github-delivery",
        "x-gitlab-event",
        "idempotency-key",
        "x-gitlab-event-uuid",
        "x-gitea-event",
        "x-forgejo-event",
        "x-gitea-delivery",
        "x-event-key",
        "x-request-uuid",
        "x-coding-event",
        "x-coding-delivery",
        "webhook-id",
        "webhook-timestamp",
        "x-timestamp",
        "x-event",
        "x-delivery",
    }
)
INTERESTING = ["", " ", FORM, "application/json", "sha256=", "sha1=", "v1,", "v1,AAAA", STAMP, "-1", "0" * 64]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["type", "event", "name", "x"]), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: b"payload=" + quote(json.dumps(value)).encode()),
    st.text(max_size=40).map(lambda text: ("payload=" + text).encode("utf-8", "surrogatepass")),
)
headers_strategy = st.dictionaries(
    st.one_of(st.sampled_from(HEADER_NAMES), st.text(max_size=12)),
    st.one_of(st.sampled_from(INTERESTING), st.text(max_size=80)),
    max_size=12,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(sorted(VERIFIERS)), headers=headers_strategy, body=bodies)
def test_random_requests_yield_a_delivery_or_a_rejection(source: str, headers: dict[str, str], body: bytes) -> None:
    try:
        result = VERIFIERS[source](headers, body, NOW)
    except Rejected:
        return
    assert isinstance(result, Delivery)
    assert source == "none"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(sorted(VERIFIERS)), headers=headers_strategy, body=bodies)
def test_signed_random_requests_are_parsed_or_refused_as_bad_requests(
    source: str, headers: dict[str, str], body: bytes
) -> None:
    headers = {name: value for name, value in headers.items() if name not in CREDENTIAL_HEADERS}
    headers.update(sign(source, body))
    try:
        result = VERIFIERS[source](headers, body, NOW)
    except BadRequest:
        return
    assert isinstance(result.payload, dict | list)
    assert result.event_type
    assert result.delivery_id
    assert not CREDENTIAL_HEADERS & set(result.headers)
