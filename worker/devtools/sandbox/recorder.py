"""The log of requests the sandbox received, with every secret left out."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from starlette.datastructures import Headers, QueryParams

from worker.devtools.sandbox.web import loads_strict

# A header or field whose name contains one of these (case-insensitive) carries a credential: its value is masked
# whole, so no part of a secret is kept. A pattern, not a list, so `x-auth-token` or `client_secret` are covered too.
SECRET_NAME = re.compile(r"token|key|secret|passw|pwd|authorization|cookie|credential", re.IGNORECASE)
# Names that match the pattern but carry no credential; the sandbox shows them as sent.
NOT_SECRET = frozenset({"idempotency-key"})
REDACTED = "[redacted]"
MAX_RECORDS = 10_000


def is_secret_name(name: str) -> bool:
    """Tell whether a header, query or JSON field name looks like it carries a credential."""
    return name.lower() not in NOT_SECRET and SECRET_NAME.search(name) is not None


def redact(value: Any) -> Any:
    """Return a JSON value with every secret-named field masked, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_name(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def safe_query(query: QueryParams) -> dict[str, str | list[str]]:
    """Return the query string as a dict (lists for repeated keys), credentials masked."""
    result: dict[str, str | list[str]] = {}
    for key in query:
        values = [REDACTED if is_secret_name(key) else v for v in query.getlist(key)]
        result[key] = values[0] if len(values) == 1 else values
    return result


def safe_headers(headers: Headers) -> dict[str, str]:
    """Return the request headers, credential-bearing ones masked."""
    return {k: REDACTED if is_secret_name(k) else v for k, v in headers.items()}


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
    effect: bool = False

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
        """Return the requests, oldest first, filtered by FILTERS (`path` is a prefix, the others exact)."""
        wanted = {name: value for name, value in (filters or {}).items() if name in FILTERS or name == "path"}
        return [r.public() for r in self._records if _matches(r, wanted)]


# Exact-match query filters of GET /_sandbox/requests (besides the `path` prefix) and how each reads a record.
FILTERS: dict[str, Callable[[RequestRecord], str]] = {
    "method": lambda r: r.method,
    "status": lambda r: str(r.status),
    "idempotency_key": lambda r: r.idempotency_key or "",
    "effect": lambda r: str(r.effect).lower(),
}


def _matches(record: RequestRecord, wanted: Mapping[str, str]) -> bool:
    if not record.path.startswith(wanted.get("path", "")):
        return False
    return all(FILTERS[name](record) == value for name, value in wanted.items() if name != "path")
