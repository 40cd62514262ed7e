"""HTTP helpers shared by the sandbox routes: errors, JSON bodies, ids and list queries."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard, TypeVar

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse

# The description's pattern for object ids (token, service, gateway group).
ID_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]+$")
INT64_MAX = 2**63 - 1


class ApiError(Exception):
    """An error answered as `{"error_msg": ...}` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """Build the admin API's error body."""
    return JSONResponse({"error_msg": message}, status_code=status, headers=headers)


def not_found(kind: str, ident: str) -> ApiError:
    """Build a 404 for a missing resource."""
    return ApiError(404, f"{kind} not found: {ident}")


def bad_request(message: str) -> ApiError:
    """Build a 400."""
    return ApiError(400, message)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(body: bytes | str) -> Any:
    """Parse standard JSON only: Python's NaN/Infinity extensions would later fail to render as JSON."""
    return json.loads(body, parse_constant=_reject_constant)


def parse_json(body: bytes) -> Any:
    """Parse a request body as JSON, raising a 400 when it is empty or malformed."""
    if not body.strip():
        raise bad_request("request body is required")
    try:
        return loads_strict(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"invalid JSON body: {exc}") from None


async def read_object(request: Request) -> dict[str, Any]:
    """Read the request body as a JSON object."""
    payload = parse_json(await request.body())
    if not isinstance(payload, dict):
        raise bad_request("request body must be a JSON object")
    return payload


def path_id(request: Request, name: str) -> str:
    """Return a path parameter that must be an object id."""
    value = str(request.path_params[name])
    if not ID_PATTERN.fullmatch(value):
        raise bad_request(f"invalid {name}: {value!r}")
    return value


def is_int(value: object) -> TypeGuard[int]:
    """Tell a JSON integer from other values (bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def require_str(body: Mapping[str, Any], key: str, *, max_length: int, required: bool = True) -> str | None:
    """Return a non-empty string field of at most `max_length` characters."""
    if key not in body:
        if required:
            raise bad_request(f"{key} is required")
        return None
    value = body[key]
    if not isinstance(value, str) or not value:
        raise bad_request(f"{key} must be a non-empty string")
    if len(value) > max_length:
        raise bad_request(f"{key} must be at most {max_length} characters")
    return value


def require_timestamp(body: Mapping[str, Any], key: str, *, now: int) -> int:
    """Return an expiry in Unix seconds: 0 (never) or a time in the future."""
    if key not in body:
        raise bad_request(f"{key} is required")
    value = body[key]
    if not is_int(value) or not 0 <= value <= INT64_MAX:
        raise bad_request(f"{key} must be a non-negative integer (Unix seconds, 0 = never)")
    if value != 0 and value <= now:
        raise bad_request(f"{key} must be in the future or 0")
    return int(value)


def value_envelope(value: Mapping[str, Any], key: str | None = None) -> dict[str, Any]:
    """Wrap one resource as the admin API does."""
    body: dict[str, Any] = {"value": dict(value)}
    if key is not None:
        body["key"] = key
    return body


def list_envelope(total: int, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Wrap a page of resources as the admin API does."""
    return {"total": total, "list": [dict(item) for item in items]}


class Listable(Protocol):
    """A record that can be sorted by one of its integer timestamps."""

    seq: int

    def order_value(self, field: str) -> int:
        """Return the value of a sortable field."""
        ...


@dataclass(frozen=True)
class ListQuery:
    """Paging, ordering and search of a list operation."""

    page: int
    page_size: int | None
    order_by: str
    descending: bool
    search: str


def _positive_int(query: QueryParams, name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1 or int(raw) > INT64_MAX:
        raise bad_request(f"{name} must be an integer >= 1")
    return int(raw)


def parse_list_query(query: QueryParams, *, order_fields: Sequence[str], default_order: str) -> ListQuery:
    """Parse and check `page`, `page_size`, `order_by`, `direction` and `search`."""
    order_by = query.get("order_by", default_order)
    if order_by not in order_fields:
        raise bad_request(f"order_by must be one of {', '.join(order_fields)}")
    direction = query.get("direction", "desc").lower()
    if direction not in ("asc", "desc"):
        raise bad_request("direction must be asc or desc")
    return ListQuery(
        page=_positive_int(query, "page") or 1,
        page_size=_positive_int(query, "page_size"),
        order_by=order_by,
        descending=direction == "desc",
        search=query.get("search", "").strip().lower(),
    )


L = TypeVar("L", bound=Listable)


def paginate(records: Sequence[L], q: ListQuery, matches: Callable[[L, str], bool]) -> tuple[int, list[L]]:
    """Filter by search, sort and cut one page; return the total before paging and the page."""
    selected = [r for r in records if not q.search or matches(r, q.search)]
    # Ties (same second) keep creation order so pages are stable.
    selected.sort(key=lambda r: (r.order_value(q.order_by), r.seq), reverse=q.descending)
    if q.page_size is None:
        return len(selected), selected
    start = (q.page - 1) * q.page_size
    return len(selected), selected[start : start + q.page_size]
