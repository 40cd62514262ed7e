"""What the token store keeps about a token (never the secret in clear) and its audit entries."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from worker.errors import StoreError, TokenError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class TokenStatus(StrEnum):
    """``ok``; ``warn`` (expiry near); ``expired``; ``invalid`` (refused by the API); ``rotating`` (under way)."""

    OK = "ok"
    WARN = "warn"
    EXPIRED = "expired"
    INVALID = "invalid"
    ROTATING = "rotating"


class Origin(StrEnum):
    """Where the current secret came from."""

    CONFIG = "config"  # a target's token_secret, seeded on first start
    CLI = "cli"  # relay tokens add / set
    ROTATION = "rotation"  # the admin API's regenerate


@dataclass
class TokenRecord:
    """A token's metadata. ``expires_at``: Unix seconds, 0 never expires, None not known."""

    name: str
    target: str
    fingerprint: str
    version: int
    origin: Origin
    created_at: float
    issued_at: float  # when the current secret was installed: the start of its lifetime
    token_id: str | None = None
    expires_at: int | None = None
    rotated_at: float | None = None
    scopes: list[str] = field(default_factory=list)
    description: str = ""
    status: TokenStatus = TokenStatus.OK
    status_reason: str = ""
    checked_at: float | None = None
    updated_at: float = 0.0
    seed_fingerprint: str = ""  # fingerprint of the token_secret last seeded from the configuration

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (there is no secret in a record to leave out)."""
        data = asdict(self)
        data["status"] = str(self.status)
        data["origin"] = str(self.origin)
        data.pop("seed_fingerprint")
        return data


def check_name(name: str) -> str:
    """``name`` if it is a valid token name (it goes into Redis keys), else ``TokenError``."""
    if not NAME_PATTERN.fullmatch(name):
        raise TokenError(f"token name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
    return name


def record_fields(record: TokenRecord) -> dict[str, str]:
    """The hash fields of a record, except the encrypted secret."""
    return {
        "name": record.name,
        "target": record.target,
        "fingerprint": record.fingerprint,
        "version": str(record.version),
        "origin": str(record.origin),
        "created_at": repr(record.created_at),
        "issued_at": repr(record.issued_at),
        "token_id": record.token_id or "",
        "expires_at": "" if record.expires_at is None else str(record.expires_at),
        "rotated_at": "" if record.rotated_at is None else repr(record.rotated_at),
        "scopes": json.dumps(record.scopes),
        "description": record.description,
        "status": str(record.status),
        "status_reason": record.status_reason,
        "checked_at": "" if record.checked_at is None else repr(record.checked_at),
        "updated_at": repr(record.updated_at),
        "seed_fingerprint": record.seed_fingerprint,
    }


def parse_record(fields: Mapping[bytes, bytes]) -> TokenRecord:
    """Rebuild a record from its hash fields (the ``secret`` field is ignored)."""
    data = {key.decode(): value.decode() for key, value in fields.items() if key != b"secret"}
    try:
        return TokenRecord(
            name=data["name"],
            target=data["target"],
            fingerprint=data["fingerprint"],
            version=int(data["version"]),
            origin=Origin(data["origin"]),
            created_at=float(data["created_at"]),
            issued_at=float(data["issued_at"]),
            token_id=data.get("token_id") or None,
            expires_at=int(data["expires_at"]) if data.get("expires_at") else None,
            rotated_at=float(data["rotated_at"]) if data.get("rotated_at") else None,
            scopes=list(json.loads(data.get("scopes") or "[]")),
            description=data.get("description", ""),
            status=TokenStatus(data.get("status") or "ok"),
            status_reason=data.get("status_reason", ""),
            checked_at=float(data["checked_at"]) if data.get("checked_at") else None,
            updated_at=float(data.get("updated_at") or 0),
            seed_fingerprint=data.get("seed_fingerprint", ""),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise StoreError(f"token record {data.get('name', '?')} is corrupt ({type(exc).__name__})") from None


@dataclass(frozen=True)
class AuditEntry:
    """One line of a token's history: a rotation, a warning, an alert, a manual change."""

    at: float
    kind: str
    message: str
    version: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def dumps(self) -> str:
        """The compact JSON stored in the history list."""
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def loads(cls, raw: bytes) -> AuditEntry:
        """Parse one stored entry."""
        data = json.loads(raw)
        return cls(
            at=float(data["at"]),
            kind=str(data["kind"]),
            message=str(data["message"]),
            version=data.get("version"),
            detail=dict(data.get("detail") or {}),
        )
