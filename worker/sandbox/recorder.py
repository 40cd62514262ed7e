"""The log of requests the sandbox received, with every secret left out."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from starlette.datastructures import Headers, QueryParams

from worker.sandbox.web import loads_strict

# Headers that carry credentials; they are dropped, not masked, so no part of a secret is kept.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "set-cookie"})
# Body and query fields that carry credentials.
SECRET_FIELDS = frozenset({"token", "api_key", "secret", "password", "x-api-key"})
REDACTED = "[redacted]"
MAX_RECORDS = 10_000


def redact(value: Any) -> Any:
    """Return a JSON value with every secret-named field masked."""
    if isinstance(value, dict):
        return {k: REDACTED if k.lower() in SECRET_FIELDS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def safe_query(query: QueryParams) -> dict[str, str | list[str]]:
    """Return the query string as a dict (lists for repeated keys), credentials masked."""
    result: dict[str, str | list[str]] = {}
    for key in query:
        values = [REDACTED if key.lower() in SECRET_FIELDS else v for v in query.getlist(key)]
        result[key] = values[0] if len(values) == 1 else values
    return result


def safe_headers(headers: Headers) -> dict[str, str]:
    """Return the request headers without credential-bearing ones."""
    return {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}


def body_json(body: bytes) -> Any:
    """Return the parsed body, credentials masked, or None when it is not JSON."""
    if not body:
        return None
    try:
        return redact(loads_strict(body))
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class RequestRecord:
    """One request as the sandbox saw and answered it."""

    method: str
    path: str
    query: dict[str, str | list[str]]
    headers: dict[str, str]
    json: Any
    authenticated: bool
    token_id: str | None
    idempotency_key: str | None
    time: float
    status: int = 0
    duration_ms: float = 0.0
    fault: dict[str, Any] | None = None
    replayed: bool = False

    def public(self) -> dict[str, Any]:
        """Return the record as the control API shows it."""
        return asdict(self)


class Recorder:
    """Keeps the latest requests (bounded, so a long-running sandbox does not grow without end)."""

    def __init__(self, limit: int = MAX_RECORDS) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=limit)

    def add(self, record: RequestRecord) -> None:
        """Append a finished request."""
        self._records.append(record)

    def clear(self) -> int:
        """Forget every request; return how many there were."""
        dropped = len(self._records)
        self._records.clear()
        return dropped

    def public(self, filters: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Return the requests, oldest first, optionally only those whose path starts with `path`."""
        prefix = (filters or {}).get("path", "")
        return [r.public() for r in self._records if r.path.startswith(prefix)]
