"""API7's answer envelopes and list paging (``api7/admin-api.json``), shared by every API7 operation.

One resource answers ``{"value": {...}}`` (sometimes with ``key`` and ``warning_msg``); a list answers
``{"total": N, "list": [...]}`` and is paged with ``page`` (from 1) and ``page_size``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from worker.errors import PermanentError
from worker.targets.caller import Caller

DEFAULT_PAGE_SIZE = 100
# The description's pattern for object ids; checked before an id goes into a path, so "../x" cannot.
ID_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]+$")


@dataclass(frozen=True)
class ListPage:
    """One page of a list answer: the total over all pages and this page's items."""

    total: int
    items: list[dict[str, Any]]


def unwrap_value(body: Any, *, where: str = "admin API") -> dict[str, Any]:
    """The resource inside ``{"value": {...}}``; PermanentError when the answer has another shape."""
    value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, dict):
        raise PermanentError(f'{where}: expected a {{"value": {{...}}}} answer, got {_shape(body)}')
    return value


def unwrap_list(body: Any, *, where: str = "admin API") -> ListPage:
    """The ``total`` and items of ``{"total": N, "list": [...]}``; PermanentError for another shape."""
    # Go encodes an empty slice as null, so "list": null is an empty page.
    if not isinstance(body, dict) or "list" not in body or not isinstance(body["list"], list | None):
        raise PermanentError(f'{where}: expected a {{"total", "list"}} answer, got {_shape(body)}')
    items = body.get("list") or []
    if not all(isinstance(item, dict) for item in items):
        raise PermanentError(f"{where}: the list holds items that are not objects")
    total = body.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        total = len(items)  # some builds omit total on an unpaged list; the page is then everything
    return ListPage(total, list(items))


def iter_list(
    client: Caller,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Iterator[dict[str, Any]]:
    """Every item of a paged list, fetched one page at a time until ``total`` is reached or a page is empty."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    seen = 0
    page = 1
    while True:
        query = {**(params or {}), "page": page, "page_size": page_size}
        result = client.call("GET", path, params=query)
        listing = unwrap_list(result.body, where=f"{client.name}: GET {path}")
        # A short page does not end the list: a server may cap page_size below what was asked.
        if not listing.items:
            return
        yield from listing.items
        seen += len(listing.items)
        if seen >= listing.total:
            return
        page += 1


def object_id(value: str, *, what: str = "id") -> str:
    """``value`` if it is a valid admin API object id, else ValueError (it is about to go into a path)."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _shape(body: Any) -> str:
    if body is None:
        return "an empty or non-JSON body"
    if isinstance(body, dict):
        return "an object with keys " + ", ".join(sorted(map(str, body))[:8])
    return f"a JSON {type(body).__name__}"
