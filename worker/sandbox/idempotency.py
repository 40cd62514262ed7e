"""Idempotency-Key support: a repeated write gets the first answer again, with no second effect."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_ENTRIES = 10_000

IdempotencyScope = tuple[str, str, str]


@dataclass(frozen=True)
class StoredResponse:
    """The first answer to a keyed write."""

    fingerprint: str
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def fingerprint(body: bytes) -> str:
    """Identify a request body, ignoring JSON formatting so an equal re-encoding still matches."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


class IdempotencyCache:
    """First answers by (method, path, key), bounded; concurrent repeats wait for the first to finish."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self._limit = limit
        self._stored: OrderedDict[IdempotencyScope, StoredResponse] = OrderedDict()
        self._running: dict[IdempotencyScope, asyncio.Event] = {}

    async def claim(self, scope: IdempotencyScope) -> StoredResponse | None:
        """Return the stored answer, or None after reserving the key for this request to run."""
        while scope in self._running:
            await self._running[scope].wait()
        stored = self._stored.get(scope)
        if stored is None:
            self._running[scope] = asyncio.Event()
        return stored

    def release(self, scope: IdempotencyScope, response: StoredResponse | None) -> None:
        """Store the answer of a claimed key (None when it must not be replayed) and wake waiters."""
        if response is not None:
            self._stored[scope] = response
            while len(self._stored) > self._limit:
                self._stored.popitem(last=False)
        event = self._running.pop(scope, None)
        if event is not None:
            event.set()

    def clear(self) -> None:
        """Forget every stored answer."""
        self._stored.clear()
