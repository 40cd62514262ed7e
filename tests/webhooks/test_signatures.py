"""Signature schemes: the public vectors, every way a signature can be wrong, and secret-free reasons."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhooks.signatures import (
    HmacSignature,
    SharedToken,
    StandardSignature,
    decode_standard_secret,
    header_bytes,
    parse_standard_signatures,
    parse_timestamp,
    sign_hmac,
    sign_standard,
)
from worker.errors import Unauthorized

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STANDARD_TIMESTAMP = 1614265330
STANDARD_BODY = b'{"test": 2432232314}'
STANDARD_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def standard_headers(signature: str = STANDARD_SIGNATURE, timestamp: int = STANDARD_TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": STANDARD_ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def rejection(check: HmacSignature | StandardSignature | SharedToken, headers: dict[str, str], body: bytes) -> str:
    with pytest.raises(Unauthorized) as caught:
        check.verify(headers, body, STANDARD_TIMESTAMP)
    return caught.value.reason


# ---- public vectors ------------------------------------------------------------------------------------


def test_github_vector_signs_and_verifies() -> None:
    key = GITHUB_SECRET.encode()
    assert sign_hmac(key, GITHUB_BODY, "sha256", prefix="sha256=") == GITHUB_SIGNATURE
    check = HmacSignature([key], header="X-Hub-Signature-256", prefix="sha256=")
    check.verify({"x-hub-signature-256": GITHUB_SIGNATURE}, GITHUB_BODY, 0)


def test_standard_vector_signs_and_verifies() -> None:
    key = decode_standard_secret(STANDARD_SECRET)
    assert sign_standard(key, STANDARD_ID, str(STANDARD_TIMESTAMP), STANDARD_BODY) == STANDARD_SIGNATURE
    StandardSignature([key]).verify(standard_headers(), STANDARD_BODY, STANDARD_TIMESTAMP)


def test_standard_secret_without_prefix_is_raw_bytes() -> None:
    assert decode_standard_secret("plain-secret") == b"plain-secret"
    assert decode_standard_secret(STANDARD_SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_abc", "whsec_", ""])
def test_bad_standard_secrets_are_refused_without_quoting_them(secret: str) -> None:
    with pytest.raises(ValueError, match="secret") as caught:
        decode_standard_secret(secret)
    if secret.removeprefix("whsec_"):
        assert secret.removeprefix("whsec_") not in str(caught.value)


# ---- HMAC in one header --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("prefix", ["", "sha256=", "v0="])
def test_hmac_round_trip_against_an_independent_signer(algorithm: str, encoding: str, prefix: str) -> None:
    key, body = b"k3y", b'{"a": 1}'
    digest = hmac.new(key, body, getattr(hashlib, algorithm)).digest()
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    check = HmacSignature(
        [key],
        header="X-Sig",
        algorithm=algorithm,  # type: ignore[arg-type]
        encoding=encoding,  # type: ignore[arg-type]
        prefix=prefix,
    )
    check.verify({"x-sig": prefix + text}, body, 0)
    with pytest.raises(Unauthorized, match=r"^signature mismatch$"):
        check.verify({"x-sig": prefix + text}, body + b" ", 0)


def test_hex_is_case_insensitive() -> None:
    check = HmacSignature([GITHUB_SECRET.encode()], header="X-Hub-Signature-256", prefix="sha256=")
    check.verify({"x-hub-signature-256": "sha256=" + GITHUB_SIGNATURE[7:].upper()}, GITHUB_BODY, 0)


GITHUB_CHECK = HmacSignature([GITHUB_SECRET.encode()], header="X-Hub-Signature-256", prefix="sha256=")
MALFORMED = "malformed signature (expected sha256=<hex>)"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Hub-Signature-256 header"),
        ({"x-hub-signature-256": ""}, "missing X-Hub-Signature-256 header"),
        ({"x-hub-signature-256": "   "}, "missing X-Hub-Signature-256 header"),
        ({"x-hub-signature": "sha1=" + "0" * 40}, "missing X-Hub-Signature-256 header"),
        ({"x-hub-signature-256": GITHUB_SIGNATURE[7:]}, MALFORMED),
        ({"x-hub-signature-256": "sha1=" + GITHUB_SIGNATURE[7:]}, MALFORMED),
        ({"x-hub-signature-256": "SHA256=" + GITHUB_SIGNATURE[7:]}, MALFORMED),
        ({"x-hub-signature-256": GITHUB_SIGNATURE[:-2]}, MALFORMED),
        ({"x-hub-signature-256": GITHUB_SIGNATURE + "00"}, MALFORMED),
        ({"x-hub-signature-256": GITHUB_SIGNATURE[:20] + " " + GITHUB_SIGNATURE[21:]}, MALFORMED),
        ({"x-hub-signature-256": "sha256=" + "zz" * 32}, MALFORMED),
        ({"x-hub-signature-256": "sha256=" + "é" * 64}, MALFORMED),
        ({"x-hub-signature-256": f" {GITHUB_SIGNATURE}\t"}, None),
        ({"x-hub-signature-256": "sha256=" + "0" * 64}, "signature mismatch"),
        (
            {"x-hub-signature-256": sign_hmac(b"other", GITHUB_BODY, "sha256", prefix="sha256=")},
            "signature mismatch",
        ),
    ],
)
def test_github_style_rejections(headers: dict[str, str], reason: str | None) -> None:
    if reason is None:  # surrounding whitespace is trimmed, as HTTP servers do
        GITHUB_CHECK.verify(headers, GITHUB_BODY, 0)
        return
    assert rejection(GITHUB_CHECK, headers, GITHUB_BODY) == reason


def test_wrong_algorithm_is_caught_by_the_digest_length() -> None:
    sha1 = HmacSignature([b"k"], header="X-Sig", algorithm="sha1")
    assert rejection(sha1, {"x-sig": sign_hmac(b"k", b"{}", "sha256")}, b"{}") == "malformed signature (expected <hex>)"
    sha256 = HmacSignature([b"k"], header="X-Sig", algorithm="sha256", encoding="base64")
    reason = rejection(sha256, {"x-sig": sign_hmac(b"k", b"{}", "sha1", "base64")}, b"{}")
    assert reason == "malformed signature (expected <base64>)"


def test_several_keys_accept_any_of_them() -> None:
    check = HmacSignature([b"old", GITHUB_SECRET.encode()], header="X-Hub-Signature-256", prefix="sha256=")
    check.verify({"x-hub-signature-256": GITHUB_SIGNATURE}, GITHUB_BODY, 0)


def test_alternative_header_names() -> None:
    check = HmacSignature([b"k"], header=("X-Gitea-Signature", "X-Forgejo-Signature"))
    check.verify({"x-forgejo-signature": sign_hmac(b"k", b"[]", "sha256")}, b"[]", 0)
    assert rejection(check, {}, b"[]") == "missing X-Gitea-Signature or X-Forgejo-Signature header"


TIMESTAMPED = HmacSignature([b"k"], header="X-Sig", timestamp_header="X-Timestamp", tolerance_seconds=60)


def timestamped(stamp: str, body: bytes = b"{}") -> dict[str, str]:
    return {"x-sig": sign_hmac(b"k", stamp.encode() + b"." + body, "sha256"), "x-timestamp": stamp}


@pytest.mark.parametrize("offset", [-60, 0, 60])
def test_timestamp_within_tolerance_is_signed_with_the_body(offset: int) -> None:
    TIMESTAMPED.verify(timestamped(str(1000 + offset)), b"{}", 1000.0)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (timestamped("939"), "timestamp outside tolerance"),
        (timestamped("1061"), "timestamp outside tolerance"),
        ({"x-sig": sign_hmac(b"k", b"{}", "sha256")}, "missing X-Timestamp header"),
        (timestamped("-1000"), "malformed X-Timestamp header"),
        (timestamped("1e3"), "malformed X-Timestamp header"),
        (timestamped("\u0661\u0660\u0660\u0660"), "malformed X-Timestamp header"),
        (timestamped("9" * 40), "malformed X-Timestamp header"),
        ({**timestamped("1000"), "x-timestamp": "1001"}, "signature mismatch"),
        ({"x-sig": sign_hmac(b"k", b"{}", "sha256"), "x-timestamp": "1000"}, "signature mismatch"),
    ],
)
def test_timestamp_rejections(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        TIMESTAMPED.verify(headers, b"{}", 1000.0)
    assert caught.value.reason == reason


# ---- Standard Webhooks ---------------------------------------------------------------------------------

STANDARD_CHECK = StandardSignature([decode_standard_secret(STANDARD_SECRET)])
STANDARD_MALFORMED = "malformed signature (expected v1,<base64>)"
OTHER_SIGNATURE = "v1," + base64.b64encode(b"\0" * 32).decode()


@pytest.mark.parametrize(
    "signature",
    [
        f"{OTHER_SIGNATURE} {STANDARD_SIGNATURE}",
        f"{STANDARD_SIGNATURE} {OTHER_SIGNATURE}",
        f"v1a,c2lnbmVk {STANDARD_SIGNATURE}",
        f"junk v1,!!! v1, ,,, {STANDARD_SIGNATURE}",
        f"  {STANDARD_SIGNATURE}\t{OTHER_SIGNATURE}  ",
    ],
)
def test_standard_accepts_a_list_with_one_good_entry(signature: str) -> None:
    STANDARD_CHECK.verify(standard_headers(signature), STANDARD_BODY, STANDARD_TIMESTAMP)


def test_standard_accepts_any_configured_key() -> None:
    check = StandardSignature([b"previous-key", decode_standard_secret(STANDARD_SECRET)])
    check.verify(standard_headers(), STANDARD_BODY, STANDARD_TIMESTAMP)


@pytest.mark.parametrize(
    ("headers", "body", "now", "reason"),
    [
        (standard_headers(), STANDARD_BODY + b" ", STANDARD_TIMESTAMP, "signature mismatch"),
        (standard_headers(OTHER_SIGNATURE), STANDARD_BODY, STANDARD_TIMESTAMP, "signature mismatch"),
        (
            {**standard_headers(), "webhook-id": "msg_other"},
            STANDARD_BODY,
            STANDARD_TIMESTAMP,
            "signature mismatch",
        ),
        (standard_headers(), STANDARD_BODY, STANDARD_TIMESTAMP + 301, "timestamp outside tolerance"),
        (standard_headers(), STANDARD_BODY, STANDARD_TIMESTAMP - 301, "timestamp outside tolerance"),
        (standard_headers(), STANDARD_BODY, STANDARD_TIMESTAMP + 300, None),
        (standard_headers(), STANDARD_BODY, STANDARD_TIMESTAMP - 300, None),
        (standard_headers("v1a,c2lnbmVk"), STANDARD_BODY, STANDARD_TIMESTAMP, STANDARD_MALFORMED),
        (standard_headers("v1,not-base64!"), STANDARD_BODY, STANDARD_TIMESTAMP, STANDARD_MALFORMED),
        (standard_headers("v1,c2hvcnQ="), STANDARD_BODY, STANDARD_TIMESTAMP, STANDARD_MALFORMED),
        (standard_headers(STANDARD_SIGNATURE[3:]), STANDARD_BODY, STANDARD_TIMESTAMP, STANDARD_MALFORMED),
        (standard_headers("v1,é"), STANDARD_BODY, STANDARD_TIMESTAMP, STANDARD_MALFORMED),
        (
            {**standard_headers(), "webhook-timestamp": "yesterday"},
            STANDARD_BODY,
            STANDARD_TIMESTAMP,
            "malformed webhook-timestamp header",
        ),
        ({"webhook-id": "x", "webhook-timestamp": "1"}, b"{}", 1, "missing webhook-signature header"),
        ({"webhook-signature": "x", "webhook-timestamp": "1"}, b"{}", 1, "missing webhook-id header"),
        ({"webhook-signature": "x", "webhook-id": "1"}, b"{}", 1, "missing webhook-timestamp header"),
    ],
)
def test_standard_rejections(headers: dict[str, str], body: bytes, now: float, reason: str | None) -> None:
    if reason is None:
        STANDARD_CHECK.verify(headers, body, now)
        return
    with pytest.raises(Unauthorized) as caught:
        STANDARD_CHECK.verify(headers, body, now)
    assert caught.value.reason == reason


def test_standard_tolerance_is_configurable() -> None:
    check = StandardSignature([decode_standard_secret(STANDARD_SECRET)], tolerance_seconds=10)
    with pytest.raises(Unauthorized, match=r"^timestamp outside tolerance$"):
        check.verify(standard_headers(), STANDARD_BODY, STANDARD_TIMESTAMP + 11)


def test_parse_standard_signatures_skips_what_it_cannot_read() -> None:
    assert parse_standard_signatures(f"v2,abc {STANDARD_SIGNATURE} v1") == [base64.b64decode(STANDARD_SIGNATURE[3:])]


# ---- plain token ---------------------------------------------------------------------------------------

TOKEN = SharedToken([b"first-token", b"second-token"], header="X-Gitlab-Token")


def test_token_accepts_any_configured_token() -> None:
    TOKEN.verify({"x-gitlab-token": "second-token"}, b"", 0)
    TOKEN.verify({"x-gitlab-token": "first-token"}, b"", 0)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Gitlab-Token header"),
        ({"x-gitlab-token": ""}, "missing X-Gitlab-Token header"),
        ({"x-gitlab-token": "first-toke"}, "token mismatch"),
        ({"x-gitlab-token": "first-token-and-more"}, "token mismatch"),
        ({"x-gitlab-token": "ﬁrst-token"}, "token mismatch"),
    ],
)
def test_token_rejections(headers: dict[str, str], reason: str) -> None:
    assert rejection(TOKEN, headers, b"") == reason


# ---- general properties --------------------------------------------------------------------------------


def test_reasons_never_contain_the_expected_value_or_the_secret() -> None:
    cases: list[tuple[HmacSignature | StandardSignature | SharedToken, dict[str, str], bytes]] = [
        (GITHUB_CHECK, {"x-hub-signature-256": "sha256=" + "0" * 64}, GITHUB_BODY),
        (GITHUB_CHECK, {"x-hub-signature-256": "garbage"}, GITHUB_BODY),
        (STANDARD_CHECK, standard_headers(OTHER_SIGNATURE), STANDARD_BODY),
        (STANDARD_CHECK, standard_headers("v1,xyz"), STANDARD_BODY),
        (TOKEN, {"x-gitlab-token": "nope"}, b""),
    ]
    forbidden = [
        GITHUB_SIGNATURE,
        GITHUB_SIGNATURE[7:],
        GITHUB_SECRET,
        STANDARD_SIGNATURE,
        STANDARD_SIGNATURE[3:],
        STANDARD_SECRET,
        STANDARD_SECRET[6:],
        "first-token",
        "second-token",
    ]
    for check, headers, body in cases:
        reason = rejection(check, headers, body)
        assert not any(secret in reason for secret in forbidden), reason


@given(st.text())
def test_parse_timestamp_takes_ascii_digits_only(value: str) -> None:
    result = parse_timestamp(value)
    stripped = value.strip()
    if result is not None:
        assert stripped.isascii()
        assert stripped.isdigit()
        assert result == int(stripped)


@given(st.text(), st.binary(max_size=64))
def test_schemes_only_ever_raise_unauthorized(signature: str, body: bytes) -> None:
    headers = {
        "x-sig": signature,
        "x-timestamp": signature,
        "webhook-id": signature,
        "webhook-timestamp": signature,
        "webhook-signature": signature,
        "x-gitlab-token": signature,
    }
    checks: list[HmacSignature | StandardSignature | SharedToken] = [
        STANDARD_CHECK,
        TOKEN,
        TIMESTAMPED,
        HmacSignature([b"k"], header="X-Sig", encoding="base64", prefix="v1="),
    ]
    for check in checks:
        with contextlib.suppress(Unauthorized):
            check.verify(headers, body, 1000.0)


def test_header_bytes_recovers_the_bytes_on_the_wire() -> None:
    assert header_bytes("caf\u00c3\u00a9") == "café".encode()
    assert header_bytes("\ud800") == "\ud800".encode("utf-8", "surrogatepass")
