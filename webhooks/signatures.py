"""Signature schemes over the raw body: HMAC in one header, Standard Webhooks, and a plain shared token.

Each scheme is built once per source with its keys already as bytes, then ``verify`` runs per request and
raises ``Unauthorized`` with a short reason that names what was wrong, never a secret or an expected value.
Every comparison goes through ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Literal

from worker.errors import Unauthorized

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]

DIGEST_SIZES: dict[str, int] = {"sha1": 20, "sha256": 32, "sha512": 64}
STANDARD_SECRET_PREFIX = "whsec_"  # noqa: S105 (a format marker, not a secret)
STANDARD_TOLERANCE_SECONDS = 300

# ASCII digits only: ``\d`` would also match other scripts' digits, which ``int`` accepts. Fifteen digits
# keep ``int`` cheap and still cover millisecond timestamps far beyond this century.
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_BASE64 = r"[A-Za-z0-9+/]+={0,2}"


def header_bytes(value: str) -> bytes:
    """The bytes a header value arrived as (ASGI servers decode headers as Latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        # Only reachable when a caller built the str itself; any deterministic encoding will do.
        return value.encode("utf-8", "surrogatepass")


def secret_bytes(secret: str) -> bytes:
    """A configured secret as an HMAC key or token: its UTF-8 bytes; empty is refused."""
    if not secret:
        raise ValueError("secret is empty")
    try:
        # surrogateescape gives back the bytes of an environment variable that was not valid UTF-8.
        return secret.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ValueError("secret cannot be encoded as UTF-8") from None


def decode_standard_secret(secret: str) -> bytes:
    """A Standard Webhooks key: base64-decoded after ``whsec_``, else the secret's own bytes."""
    if not secret.startswith(STANDARD_SECRET_PREFIX):
        return secret_bytes(secret)
    try:
        key = base64.b64decode(secret.removeprefix(STANDARD_SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("secret starting with whsec_ is not valid base64") from None
    if not key:
        raise ValueError("secret starting with whsec_ decodes to an empty key")
    return key


def sign_hmac(key: bytes, message: bytes, algorithm: Algorithm, encoding: Encoding = "hex", prefix: str = "") -> str:
    """The header value a sender computes: ``prefix`` + hex or base64 of HMAC(key, message)."""
    digest = hmac.digest(key, message, algorithm)
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")
    return prefix + text


def standard_content(msg_id: str, timestamp: str, body: bytes) -> bytes:
    """What Standard Webhooks signs: ``{id}.{timestamp}.{body}``."""
    return header_bytes(msg_id) + b"." + timestamp.encode("ascii") + b"." + body


def sign_standard(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """One ``v1,<base64>`` entry of a ``webhook-signature`` header."""
    return "v1," + sign_hmac(key, standard_content(msg_id, timestamp, body), "sha256", "base64")


def parse_timestamp(value: str) -> int | None:
    """Unix seconds from a header value made of ASCII digits only, else None."""
    value = value.strip()
    return int(value) if _TIMESTAMP.fullmatch(value) else None


def parse_standard_signatures(value: str) -> list[bytes]:
    """The decoded ``v1`` digests of a ``webhook-signature`` header; other versions and junk are skipped."""
    digests = []
    for entry in value.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            # ValueError, not only binascii.Error: a non-ASCII str is refused before decoding starts.
            digest = base64.b64decode(encoded, validate=True)
        except ValueError:
            continue
        if len(digest) == DIGEST_SIZES["sha256"]:
            digests.append(digest)
    return digests


def matches_any(keys: Sequence[bytes], message: bytes, algorithm: str, given: Sequence[bytes]) -> bool:
    """True when HMAC(key, message) equals one of ``given`` for any key, compared in constant time."""
    for key in keys:
        expected = hmac.digest(key, message, algorithm)
        for candidate in given:
            if hmac.compare_digest(expected, candidate):
                return True
    return False


def _header(headers: Mapping[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
    return None


class HmacSignature:
    """HMAC of the body (or of ``{timestamp}.{body}``) in one header, hex or base64, after a fixed prefix."""

    __slots__ = (
        "_algorithm",
        "_digest_size",
        "_encoding",
        "_keys",
        "_malformed",
        "_missing",
        "_names",
        "_pattern",
        "_prefix",
        "_timestamp",
        "_tolerance",
    )

    def __init__(
        self,
        keys: Sequence[bytes],
        *,
        header: str | Sequence[str],
        algorithm: Algorithm = "sha256",
        encoding: Encoding = "hex",
        prefix: str = "",
        timestamp_header: str | None = None,
        tolerance_seconds: float = STANDARD_TOLERANCE_SECONDS,
    ) -> None:
        if not keys:
            raise ValueError("no secret configured")
        shown = [header] if isinstance(header, str) else list(header)
        self._keys = tuple(keys)
        self._names = tuple(name.lower() for name in shown)
        self._missing = "missing " + " or ".join(shown) + " header"
        self._algorithm = algorithm
        self._digest_size = DIGEST_SIZES[algorithm]
        self._encoding = encoding
        self._prefix = prefix
        self._malformed = f"malformed signature (expected {prefix}<{encoding}>)"
        hex_size = 2 * self._digest_size
        body = f"[0-9a-fA-F]{{{hex_size}}}" if encoding == "hex" else _BASE64
        self._pattern = re.compile(re.escape(prefix) + f"({body})")
        self._timestamp = (timestamp_header, timestamp_header.lower()) if timestamp_header else None
        self._tolerance = tolerance_seconds

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise ``Unauthorized`` unless the header carries a valid signature of ``body``."""
        value = _header(headers, self._names)
        if value is None:
            raise Unauthorized(self._missing)
        given = self._decode(value)
        if given is None:
            raise Unauthorized(self._malformed)
        message = body
        if self._timestamp is not None:
            shown, name = self._timestamp
            stamp = _header(headers, (name,))
            if stamp is None:
                raise Unauthorized(f"missing {shown} header")
            _check_timestamp(stamp, now, self._tolerance, shown)
            message = stamp.encode("ascii") + b"." + body
        if not matches_any(self._keys, message, self._algorithm, (given,)):
            raise Unauthorized("signature mismatch")

    def _decode(self, value: str) -> bytes | None:
        match = self._pattern.fullmatch(value)
        if match is None:
            return None
        text = match.group(1)
        if self._encoding == "hex":
            return bytes.fromhex(text)
        try:
            digest = base64.b64decode(text, validate=True)
        except binascii.Error:
            return None
        return digest if len(digest) == self._digest_size else None


def _check_timestamp(stamp: str, now: float, tolerance: float, shown: str) -> None:
    timestamp = parse_timestamp(stamp)
    if timestamp is None:
        raise Unauthorized(f"malformed {shown} header")
    # Checked before the HMAC: it is cheap, and a replayed or badly clocked delivery fails either way.
    if abs(now - timestamp) > tolerance:
        raise Unauthorized("timestamp outside tolerance")


class StandardSignature:
    """Standard Webhooks: ``webhook-signature`` lists ``v1,<base64 HMAC-SHA256(key, id.timestamp.body)>``."""

    __slots__ = ("_keys", "_tolerance")

    def __init__(self, keys: Sequence[bytes], tolerance_seconds: float = STANDARD_TOLERANCE_SECONDS) -> None:
        if not keys:
            raise ValueError("no secret configured")
        self._keys = tuple(keys)
        self._tolerance = tolerance_seconds

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise ``Unauthorized`` unless one listed signature matches one key, within the time tolerance."""
        value = _header(headers, ("webhook-signature",))
        if value is None:
            raise Unauthorized("missing webhook-signature header")
        msg_id = _header(headers, ("webhook-id",))
        if msg_id is None:
            raise Unauthorized("missing webhook-id header")
        stamp = _header(headers, ("webhook-timestamp",))
        if stamp is None:
            raise Unauthorized("missing webhook-timestamp header")
        _check_timestamp(stamp, now, self._tolerance, "webhook-timestamp")
        message = standard_content(msg_id, stamp, body)
        given = parse_standard_signatures(value)
        if not given:
            raise Unauthorized("malformed signature (expected v1,<base64>)")
        if not matches_any(self._keys, message, "sha256", given):
            raise Unauthorized("signature mismatch")


class SharedToken:
    """A secret sent as is in a header (GitLab's ``X-Gitlab-Token``)."""

    __slots__ = ("_digests", "_missing", "_name")

    def __init__(self, tokens: Sequence[bytes], *, header: str) -> None:
        if not tokens:
            raise ValueError("no secret configured")
        # Comparing fixed-size hashes keeps the token's length out of the timing as well.
        self._digests = tuple(hashlib.sha256(token).digest() for token in tokens)
        self._name = header.lower()
        self._missing = f"missing {header} header"

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise ``Unauthorized`` unless the header equals one of the tokens."""
        value = _header(headers, (self._name,))
        if value is None:
            raise Unauthorized(self._missing)
        given = hashlib.sha256(header_bytes(value)).digest()
        if not any(hmac.compare_digest(given, digest) for digest in self._digests):
            raise Unauthorized("token mismatch")
