"""Sandbox API tokens: records whose secrets are kept only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from worker.devtools.sandbox.web import ApiError, bad_request, not_found

# API7 Enterprise access tokens carry this prefix; clients may rely on it to recognise one.
SECRET_PREFIX = "a7ee-"  # noqa: S105 - a public prefix, not a secret
NAME_MAX = 40


def hash_secret(secret: str) -> str:
    """Return the SHA-256 hex digest the sandbox stores instead of a secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """Return a fresh random secret."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@dataclass
class IssuedToken:
    """One access token; `secret_hash` never leaves this module."""

    id: str
    name: str
    secret_hash: str
    created_at: int
    updated_at: int
    expires_at: int
    user_id: str
    user_name: str
    seq: int
    last_used_at: int = 0

    def public(self) -> dict[str, Any]:
        """Return the fields the admin API shows (never the secret nor its hash)."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "last_used_at": self.last_used_at,
        }

    def expired(self, now: float) -> bool:
        """Tell whether the token has expired at `now` (0 never expires)."""
        return self.expires_at != 0 and now >= self.expires_at

    def order_value(self, field: str) -> int:
        """Return a sortable timestamp."""
        return {"created_at": self.created_at, "updated_at": self.updated_at, "expires_at": self.expires_at}[field]


@dataclass(frozen=True)
class AuthResult:
    """Outcome of checking a presented secret."""

    token: IssuedToken | None
    presented: bool
    reason: str

    @property
    def ok(self) -> bool:
        """Tell whether the secret authenticated."""
        return self.token is not None


class IssuedTokens:
    """All tokens of the sandbox's single user, indexed by id and by secret hash."""

    def __init__(self, clock: Callable[[], float], *, user_id: str, user_name: str) -> None:
        self._clock = clock
        self._user_id = user_id
        self._user_name = user_name
        self._by_id: dict[str, IssuedToken] = {}
        self._by_hash: dict[str, str] = {}
        self._seq = 0

    def _now(self) -> int:
        return int(self._clock())

    def _check_name(self, name: str, *, except_id: str | None = None) -> None:
        if any(t.name == name and t.id != except_id for t in self._by_id.values()):
            raise ApiError(400, f"token name already exists: {name}")

    def _add(self, name: str, secret: str, expires_at: int) -> IssuedToken:
        now = self._now()
        self._seq += 1
        record = IssuedToken(
            id=str(uuid.uuid4()),
            name=name,
            secret_hash=hash_secret(secret),
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
            user_id=self._user_id,
            user_name=self._user_name,
            seq=self._seq,
        )
        self._by_id[record.id] = record
        self._by_hash[record.secret_hash] = record.id
        return record

    def add_bootstrap(self, secret: str) -> IssuedToken:
        """Register the operator-supplied secret as the never-expiring token "bootstrap"."""
        if not secret:
            raise ValueError("bootstrap token must not be empty")
        return self._add("bootstrap", secret, 0)

    def create(self, name: str, expires_at: int) -> tuple[IssuedToken, str]:
        """Create a token; the secret is returned here and never again."""
        self._check_name(name)
        secret = new_secret()
        return self._add(name, secret, expires_at), secret

    def get(self, token_id: str) -> IssuedToken:
        """Return a token or raise a 404."""
        record = self._by_id.get(token_id)
        if record is None:
            raise not_found("token", token_id)
        return record

    def all(self) -> list[IssuedToken]:
        """Return every token."""
        return list(self._by_id.values())

    def name_exists(self, name: str) -> bool:
        """Tell whether a token already has this name."""
        return any(t.name == name for t in self._by_id.values())

    def rename(self, token_id: str, name: str) -> IssuedToken:
        """Rename a token."""
        record = self.get(token_id)
        self._check_name(name, except_id=token_id)
        record.name = name
        record.updated_at = self._now()
        return record

    def regenerate(self, token_id: str, expires_at: int) -> tuple[IssuedToken, str]:
        """Give a token a new secret; the previous one stops working at once."""
        record = self.get(token_id)
        secret = new_secret()
        del self._by_hash[record.secret_hash]
        record.secret_hash = hash_secret(secret)
        self._by_hash[record.secret_hash] = record.id
        record.expires_at = expires_at
        record.updated_at = self._now()
        return record, secret

    def delete(self, token_id: str) -> IssuedToken:
        """Delete a token; its secret stops working at once."""
        record = self.get(token_id)
        del self._by_id[token_id]
        del self._by_hash[record.secret_hash]
        return record

    def authenticate(self, secret: str | None) -> AuthResult:
        """Check a presented secret without side effects."""
        if not secret:
            return AuthResult(None, False, "missing API key")
        token_id = self._by_hash.get(hash_secret(secret))
        if token_id is None:
            return AuthResult(None, True, "invalid API key")
        record = self._by_id[token_id]
        if record.expired(self._clock()):
            return AuthResult(None, True, "API key expired")
        return AuthResult(record, True, "")

    def touch(self, token_id: str) -> None:
        """Note that a token was just used."""
        record = self._by_id.get(token_id)
        if record is not None:
            record.last_used_at = self._now()


def validate_name(body: dict[str, Any]) -> str:
    """Return the `name` of a token body."""
    name = body.get("name")
    if "name" not in body:
        raise bad_request("name is required")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name must be a non-empty string")
    if len(name) > NAME_MAX:
        raise bad_request(f"name must be at most {NAME_MAX} characters")
    return name
