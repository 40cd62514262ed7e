"""Source kinds: check a delivery's signature or token, then parse it into a ``Delivery``.

``build_verifier`` does all per-source work once (secrets to bytes, ``whsec_`` decoding, hash choice,
lowercase header names); the verifier it returns takes lowercase-named headers, the raw body and the time,
and either returns a ``Delivery`` or raises a ``Rejected`` subclass:

- ``Unauthorized`` (401) first: nothing of the body is read before its signature holds.
- ``BadRequest`` (400) next: the body must be a JSON object or array (a scalar is refused: no sender posts
  one, and rules address fields). Non-finite numbers (``NaN``, ``1e999``) are refused so that the stored
  record is strict JSON. ``github``, ``gitea``, ``coding``, ``hmac`` and ``none`` also accept
  ``application/x-www-form-urlencoded`` bodies carrying the JSON in one ``payload`` field (the signature still
  covers the raw body); ``gitlab``, ``bitbucket`` and ``standard`` senders only post JSON.

Event type: the kind's header, required for the named kinds. ``standard`` reads a JSON field
(``event_field``, default ``type``; dotted for nested fields: ``data.kind``). ``hmac`` and ``none`` read
``event_header`` if set, else ``event_field`` if set (a configured one is required), else the constant
``"unknown"``. Event types and delivery ids are at most 256 characters and must have a UTF-8 form (a JSON
string may decode to a lone surrogate, which the store cannot hold): otherwise ``BadRequest``.

Delivery id: the kind's header; where the sender sent none, ``sha256:`` + the hex SHA-256 of the raw body.
``hmac`` with a ``timestamp_header`` signs ``f"{timestamp}.".encode() + body`` (Unix seconds, ASCII digits)
and enforces ``tolerance_seconds`` both ways, as ``standard`` does.

``gitlab``: a secret starting with ``whsec_`` is a signing token (checked against the Standard Webhooks
headers whenever ``webhook-signature`` is present), any other one a plain ``X-Gitlab-Token``.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from webhooks.signatures import (
    STANDARD_SECRET_PREFIX,
    HmacSignature,
    SharedToken,
    StandardSignature,
    decode_standard_secret,
    secret_bytes,
)
from worker.config import SourceConfig
from worker.errors import BadRequest, ConfigError


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified and parsed webhook delivery."""

    event_type: str
    delivery_id: str
    payload: Any
    headers: dict[str, str]


Verifier = Callable[[Mapping[str, str], bytes, float], Delivery]

DEFAULT_EVENT_TYPE = "unknown"
MAX_NAME_LENGTH = 256
_MAX_FORM_FIELDS = 100
_FORM_TYPE = "application/x-www-form-urlencoded"
_COMMON_HEADERS = ("user-agent", "content-type")
# Never copied onto an event record, even when a hmac/none source names one as its event or delivery header.
_CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-gitlab-token",
        "x-hub-signature",
        "x-hub-signature-256",
        "x-gitea-signature",
        "x-forgejo-signature",
        "x-gogs-signature",
        "x-coding-signature",
        "webhook-signature",
    }
)


class _Check(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None: ...


class _Unsigned:
    """Kind ``none``: nothing to check here; the caller enforces the address allowlist."""

    __slots__ = ()

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        return None


class _GitLabCheck:
    """A signing token when GitLab signed the delivery, else the plain ``X-Gitlab-Token``."""

    __slots__ = ("_otherwise", "_signed")

    def __init__(self, signed: StandardSignature | None, token: SharedToken | None) -> None:
        otherwise = token or signed
        if otherwise is None:
            raise ValueError("no secret configured")
        self._signed = signed
        # Without a plain token the signature is required, and its absence is reported as such.
        self._otherwise: _Check = otherwise

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        # A present signature is never skipped in favour of the token; it is only ignored when no signing
        # token is configured (GitLab may send both headers while Relay knows only the plain token).
        if self._signed is not None and headers.get("webhook-signature"):
            self._signed.verify(headers, body, now)
        else:
            self._otherwise.verify(headers, body, now)


@dataclass(frozen=True, slots=True)
class _SourceVerifier:
    check: _Check
    event_headers: tuple[str, ...]
    event_missing: str
    event_field: tuple[str, ...]
    event_default: str | None
    delivery_headers: tuple[str, ...]
    kept_headers: tuple[str, ...]
    form: bool

    def __call__(self, headers: Mapping[str, str], body: bytes, now: float) -> Delivery:
        self.check.verify(headers, body, now)
        payload = _parse_body(body, headers.get("content-type"), self.form)
        kept = {name: value for name in self.kept_headers if (value := headers.get(name)) is not None}
        return Delivery(self._event_type(headers, payload), self._delivery_id(headers, body), payload, kept)

    def _event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        value = _first_header(headers, self.event_headers)
        if value is None and self.event_field:
            value = _field(payload, self.event_field)
        if value is None:
            if self.event_default is None:
                raise BadRequest(self.event_missing)
            return self.event_default
        return _name(value, "event type")

    def _delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        value = _first_header(headers, self.delivery_headers)
        if value is None:
            return "sha256:" + hashlib.sha256(body).hexdigest()
        return _name(value, "delivery id")


def build_verifier(config: SourceConfig) -> Verifier:
    """The per-request verifier for one source, with its secrets and header names prepared once."""
    try:
        return _BUILDERS[config.kind](config)
    except ValueError as exc:
        # The messages come from this package and never quote a secret.
        raise ConfigError(f"source of kind {config.kind!r}: {exc}") from None


def _secrets(config: SourceConfig) -> list[str]:
    return [secret.get_secret_value() for secret in config.all_secrets]


def _keys(config: SourceConfig) -> list[bytes]:
    return [secret_bytes(secret) for secret in _secrets(config)]


def _named(
    check: _Check, event: Sequence[str], delivery: Sequence[str], extra: Sequence[str] = (), *, form: bool
) -> _SourceVerifier:
    """A kind whose sender names its event and delivery in fixed headers (display-cased here)."""
    event_names = tuple(name.lower() for name in event)
    delivery_names = tuple(name.lower() for name in delivery)
    return _SourceVerifier(
        check=check,
        event_headers=event_names,
        event_missing="missing " + " or ".join(event) + " header",
        event_field=(),
        event_default=None,
        delivery_headers=delivery_names,
        kept_headers=_kept(event_names, delivery_names, extra),
        form=form,
    )


def _kept(*groups: Sequence[str], exclude: Sequence[str] = ()) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for group in (*groups, _COMMON_HEADERS):
        names.update(dict.fromkeys(name.lower() for name in group))
    dropped = _CREDENTIAL_HEADERS | {name.lower() for name in exclude}
    return tuple(name for name in names if name not in dropped)


def _github(config: SourceConfig) -> _SourceVerifier:
    check = HmacSignature(_keys(config), header="X-Hub-Signature-256", algorithm="sha256", prefix="sha256=")
    extra = (
        "X-GitHub-Hook-ID",
        "X-GitHub-Hook-Installation-Target-ID",
        "X-GitHub-Hook-Installation-Target-Type",
    )
    return _named(check, ["X-GitHub-Event"], ["X-GitHub-Delivery"], extra, form=True)


def _gitlab(config: SourceConfig) -> _SourceVerifier:
    secrets = _secrets(config)
    signing = [decode_standard_secret(s) for s in secrets if s.startswith(STANDARD_SECRET_PREFIX)]
    plain = [secret_bytes(s) for s in secrets if not s.startswith(STANDARD_SECRET_PREFIX)]
    check = _GitLabCheck(
        StandardSignature(signing, config.tolerance_seconds) if signing else None,
        SharedToken(plain, header="X-Gitlab-Token") if plain else None,
    )
    extra = ("X-Gitlab-Webhook-UUID", "X-Gitlab-Instance", "webhook-id", "webhook-timestamp")
    return _named(check, ["X-Gitlab-Event"], ["Idempotency-Key", "X-Gitlab-Event-UUID"], extra, form=False)


def _gitea(config: SourceConfig) -> _SourceVerifier:
    # Forgejo sends its own headers next to the Gitea ones; either signature header is enough.
    check = HmacSignature(_keys(config), header=("X-Gitea-Signature", "X-Forgejo-Signature"), algorithm="sha256")
    extra = ("X-Gitea-Event-Type", "X-Forgejo-Event-Type")
    return _named(
        check,
        ["X-Gitea-Event", "X-Forgejo-Event"],
        ["X-Gitea-Delivery", "X-Forgejo-Delivery"],
        extra,
        form=True,
    )


def _bitbucket(config: SourceConfig) -> _SourceVerifier:
    # SHA-256 under the SHA-1-era GitHub name. X-Request-Id is Bitbucket Data Center's delivery id.
    check = HmacSignature(_keys(config), header="X-Hub-Signature", algorithm="sha256", prefix="sha256=")
    extra = ("X-Hook-UUID", "X-Attempt-Number")
    return _named(check, ["X-Event-Key"], ["X-Request-UUID", "X-Request-Id"], extra, form=False)


def _coding(config: SourceConfig) -> _SourceVerifier:
    check = HmacSignature(_keys(config), header="X-Coding-Signature", algorithm="sha1", prefix="sha1=")
    return _named(check, ["X-Coding-Event"], ["X-Coding-Delivery"], ["X-Coding-WebHook-Version"], form=True)


def _standard(config: SourceConfig) -> _SourceVerifier:
    keys = [decode_standard_secret(secret) for secret in _secrets(config)]
    return _SourceVerifier(
        check=StandardSignature(keys, config.tolerance_seconds),
        event_headers=(),
        event_missing="",
        event_field=_path(config.event_field or "type"),
        event_default=None,
        delivery_headers=("webhook-id",),
        kept_headers=_kept(("webhook-id", "webhook-timestamp")),
        form=False,
    )


def _hmac(config: SourceConfig) -> _SourceVerifier:
    if not config.header:
        raise ValueError("'header' (the signature header's name) is required")
    check = HmacSignature(
        _keys(config),
        header=config.header,
        algorithm=config.algorithm,
        encoding=config.encoding,
        prefix=config.prefix,
        timestamp_header=config.timestamp_header,
        tolerance_seconds=config.tolerance_seconds,
    )
    return _configured(check, config, exclude=(config.header,))


def _none(config: SourceConfig) -> _SourceVerifier:
    return _configured(_Unsigned(), config)


def _configured(check: _Check, config: SourceConfig, exclude: Sequence[str] = ()) -> _SourceVerifier:
    """A kind whose event and delivery headers, if any, come from the configuration."""
    event = (config.event_header,) if config.event_header else ()
    delivery = (config.delivery_header,) if config.delivery_header else ()
    stamp = (config.timestamp_header,) if config.timestamp_header else ()
    field = _path(config.event_field) if config.event_field else ()
    return _SourceVerifier(
        check=check,
        event_headers=tuple(name.lower() for name in event),
        event_missing=f"missing {config.event_header} header",
        event_field=field,
        event_default=None if event or field else DEFAULT_EVENT_TYPE,
        delivery_headers=tuple(name.lower() for name in delivery),
        kept_headers=_kept(event, delivery, stamp, exclude=exclude),
        form=True,
    )


_BUILDERS: dict[str, Callable[[SourceConfig], _SourceVerifier]] = {
    "github": _github,
    "gitlab": _gitlab,
    "gitea": _gitea,
    "bitbucket": _bitbucket,
    "coding": _coding,
    "standard": _standard,
    "hmac": _hmac,
    "none": _none,
}


def _path(field: str) -> tuple[str, ...]:
    parts = tuple(field.split("."))
    if not all(parts):
        raise ValueError(f"event_field {field!r} has an empty part")
    return parts


def _first_header(headers: Mapping[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value and (value := value.strip()):
            return value
    return None


def _name(value: str, what: str) -> str:
    """An event type or delivery id that fits in a key and that the store can take as UTF-8."""
    if len(value) > MAX_NAME_LENGTH:
        raise BadRequest(f"{what} too long")
    try:
        # A JSON field may hold a lone surrogate (JSON ``"\ud800"``): Python decodes it, but it has no UTF-8 form,
        # which the ingest script's arguments (the dedup key among them) need: refused here, not failed at the store.
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid UTF-8") from None
    return value


def _field(payload: Any, path: tuple[str, ...]) -> str:
    value = payload
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"payload has no string field {'.'.join(path)!r}")
    return value


def _parse_body(body: bytes, content_type: str | None, form: bool) -> Any:
    if form and content_type and content_type.partition(";")[0].strip().lower() == _FORM_TYPE:
        return _json(_form_payload(body), "payload field")
    if not body.strip():
        raise BadRequest("body is empty")
    return _json(body, "body")


def _form_payload(body: bytes) -> str:
    try:
        fields = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=_MAX_FORM_FIELDS
        )
    except UnicodeDecodeError:
        raise BadRequest("form body is not valid UTF-8") from None
    except ValueError:
        raise BadRequest("form body has too many fields") from None
    values = [value for name, value in fields if name == "payload"]
    if not values:
        raise BadRequest("form body has no payload field")
    if len(values) > 1:
        raise BadRequest("form body has more than one payload field")
    return values[0]


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)


# No real sender nests beyond about 20 (GitHub's deepest payloads are ~10); past 64 a body is an attack on every
# recursive reader downstream (the worker, the CLI), so it is refused at the door.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")
# A number this long may not fit in 64 bits, where orjson would give a float (a value the sender did not send).
# Where a number starts (after "[", ":" or ","): a hex digest in a string is not one, and text in a string that
# looks like one only costs the standard library's slower parse.
_LONG_INTEGER = re.compile(r"[\[:,]\s*-?\d{19}")


def _check_depth(text: str, what: str) -> str:
    """Refuse JSON nested deeper than ``MAX_JSON_DEPTH``, counted before parsing; return the text to scan for numbers.

    That is the text without its strings, or the text itself when it has too few brackets (strings included) to be
    nested that deep: a small body is not scanned twice.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return text
    bare = _JSON_STRING.sub("", text)
    depth = 0
    for match in _JSON_BRACKET.finditer(bare):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    return bare


def _json(data: bytes | str, what: str) -> Any:
    try:
        # What the utf-8-sig codec does (one leading byte order mark dropped), on the C fast path of UTF-8.
        text = data.removeprefix(codecs.BOM_UTF8).decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not valid UTF-8") from None
    bare = _check_depth(text, what)
    try:
        value = _parse(text, exact=_LONG_INTEGER.search(bare) is not None)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays are valid JSON the parser cannot hold.
        raise BadRequest(f"{what} is not valid JSON") from None
    if not isinstance(value, dict | list):
        raise BadRequest(f"{what} is not a JSON object or array")
    return value


def _parse(text: str, *, exact: bool) -> Any:
    """orjson's parse; the standard library's (as configured above) for long integers and for what orjson refuses.

    orjson accepts no JSON the standard library refuses here (NaN, infinities and huge exponents included); it
    refuses some the standard library accepts (a lone surrogate escape), whose verdict then stands as before.
    """
    if not exact:
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(text)
    return _DECODER.decode(text)
