"""API7's token endpoints (tag 令牌) under a configurable prefix, with typed results.

The prefix is the target's ``token_path_prefix``: ``/api/settings/tokens`` in the published description,
``/api/tokens`` on newer builds. Facts the token lifecycle builds on:

- The secret (``token``) is answered only by ``create`` and ``regenerate``: it is shown once, so the caller must
  store it before doing anything else with it. ``ApiToken.token`` is None for every other operation.
- ``regenerate`` invalidates the previous secret at once (no grace window). A regenerate whose answer was lost
  must not be retried blindly: the secret may have changed already. This module never retries a call by itself
  (the client's single 401 retry only happens after the server refused the request, so nothing was done).
- ``expires_at`` is Unix time in seconds; 0 means the token never expires.
- A token has no scopes of its own: it carries the roles of the user who created it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

from pydantic import SecretStr

from worker.errors import PermanentError
from worker.targets.caller import Caller
from worker.targets.envelopes import DEFAULT_PAGE_SIZE, iter_list, object_id, unwrap_value

DEFAULT_TOKEN_PREFIX = "/api/settings/tokens"  # noqa: S105 (a URL path)
NAME_MAX = 40  # the description's maxLength for a token's name

OrderBy = Literal["created_at", "updated_at", "expires_at"]
Direction = Literal["asc", "desc"]


@dataclass(frozen=True)
class ApiToken:
    """A token as the admin API describes it; ``token`` (the secret) only from create and regenerate."""

    id: str
    name: str
    expires_at: int  # Unix seconds; 0 = never expires
    created_at: int | None = None
    updated_at: int | None = None
    last_used_at: int | None = None
    user_id: str | None = None
    user_name: str | None = None
    token: SecretStr | None = None  # SecretStr: a repr or log line shows '**********'

    @property
    def never_expires(self) -> bool:
        """True when ``expires_at`` is 0."""
        return self.expires_at == 0

    @property
    def expires(self) -> datetime | None:
        """The expiry as an aware UTC datetime, None when the token never expires."""
        return None if self.never_expires else datetime.fromtimestamp(self.expires_at, UTC)

    @classmethod
    def from_api(cls, value: Mapping[str, Any], *, where: str = "admin API") -> ApiToken:
        """Build from the ``value`` of a token answer; PermanentError when ``id`` or ``expires_at`` is missing."""
        token_id, expires_at = value.get("id"), value.get("expires_at")
        if not isinstance(token_id, str) or not token_id or not _is_int(expires_at):
            raise PermanentError(f"{where}: a token without a string id and an integer expires_at")
        secret = value.get("token")
        return cls(
            id=token_id,
            name=str(value.get("name") or ""),
            expires_at=int(expires_at),
            created_at=_int_or_none(value.get("created_at")),
            updated_at=_int_or_none(value.get("updated_at")),
            last_used_at=_int_or_none(value.get("last_used_at")),
            user_id=_str_or_none(value.get("user_id")),
            user_name=_str_or_none(value.get("user_name")),
            token=SecretStr(secret) if isinstance(secret, str) and secret else None,
        )


class Api7Tokens:
    """Create, list, read, rename, delete and regenerate API7 tokens through one target's client."""

    def __init__(self, client: Caller, *, prefix: str | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.client = client
        self.prefix = "/" + (prefix or client.config.token_path_prefix or DEFAULT_TOKEN_PREFIX).strip("/")
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.client!r} {self.prefix}>"

    def create(self, name: str, expires_at: int | datetime, *, idempotency_key: str | None = None) -> ApiToken:
        """Create a token owned by the calling user; the answer holds its secret, shown this once."""
        body = {"name": _name(name), "expires_at": unix_seconds(expires_at)}
        return self._with_secret(self._write("POST", self.prefix, body, idempotency_key), "create")

    def list(
        self,
        *,
        search: str | None = None,
        order_by: OrderBy | None = None,
        direction: Direction | None = None,
    ) -> Iterator[ApiToken]:
        """Every token the caller may see, across pages (``search`` matches names)."""
        params: dict[str, Any] = {}
        if search:
            params["search"] = search
        if order_by:
            params["order_by"] = order_by
        if direction:
            params["direction"] = direction
        where = f"{self.client.name}: GET {self.prefix}"
        for item in iter_list(self.client, self.prefix, params=params, page_size=self.page_size):
            yield ApiToken.from_api(item, where=where)

    def find(self, name: str) -> ApiToken | None:
        """The token named exactly ``name``, or None (``search`` is a substring match, so names are compared)."""
        return next((token for token in self.list(search=name) if token.name == name), None)

    def name_exists(self, name: str) -> bool:
        """Whether a token with this name exists (``GET .../check_name``)."""
        result = self.client.call("GET", f"{self.prefix}/check_name", params={"name": name})
        return bool(unwrap_value(result.body, where=f"{self.client.name}: GET {self.prefix}/check_name").get("exist"))

    def get(self, token_id: str) -> ApiToken:
        """One token, without its secret."""
        path = self._path(token_id)
        result = self.client.call("GET", path)
        return ApiToken.from_api(unwrap_value(result.body, where=f"{self.client.name}: GET {path}"))

    def update(self, token_id: str, name: str, *, idempotency_key: str | None = None) -> ApiToken:
        """Rename a token (its name is the only field an update changes)."""
        return ApiToken.from_api(self._write("PUT", self._path(token_id), {"name": _name(name)}, idempotency_key))

    def delete(self, token_id: str, *, idempotency_key: str | None = None) -> ApiToken | None:
        """Delete a token: its secret stops working at once. Returns the deleted token when the API answers it."""
        path = self._path(token_id)
        result = self.client.call("DELETE", path, idempotency_key=idempotency_key)
        value = result.body.get("value") if isinstance(result.body, dict) else None
        return ApiToken.from_api(value) if isinstance(value, dict) else None

    def regenerate(self, token_id: str, expires_at: int | datetime, *, idempotency_key: str | None = None) -> ApiToken:
        """Give a token a new secret and expiry; the old secret is invalid from now on (see the module notes)."""
        body = {"expires_at": unix_seconds(expires_at)}
        value = self._write("PUT", self._path(token_id) + "/regenerate", body, idempotency_key)
        return self._with_secret(value, "regenerate")

    def _path(self, token_id: str) -> str:
        return f"{self.prefix}/{object_id(token_id, what='token_id')}"

    def _write(self, method: str, path: str, body: Any, idempotency_key: str | None) -> dict[str, Any]:
        result = self.client.call(method, path, json=body, idempotency_key=idempotency_key)
        return unwrap_value(result.body, where=f"{self.client.name}: {method} {path}")

    def _with_secret(self, value: Mapping[str, Any], operation: str) -> ApiToken:
        token = ApiToken.from_api(value, where=f"{self.client.name}: {operation} token")
        if token.token is None:
            # After a regenerate the old secret is already dead: say so loudly rather than return a token-less result.
            raise PermanentError(f"{self.client.name}: {operation} token {token.id} answered no secret")
        return token


def unix_seconds(when: int | datetime) -> int:
    """``when`` as integer Unix seconds (0 = never); a naive datetime is taken as UTC."""
    if isinstance(when, datetime):
        aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        return int(aware.timestamp())
    if isinstance(when, bool) or not isinstance(when, int) or when < 0:
        raise ValueError("expires_at must be a datetime or non-negative Unix seconds (0 = never)")
    return when


def _name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > NAME_MAX:
        raise ValueError(f"a token name must be 1 to {NAME_MAX} characters")
    return name


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_none(value: Any) -> int | None:
    return int(value) if _is_int(value) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
