"""Writes that took effect, counted per route and per Idempotency-Key, so a fault run can see duplicates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, MutableMapping
from typing import Any, TypeVar

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
T = TypeVar("T")
GROUPINGS = ("idempotency_key", "path", "route")
# Set in a request's scope by a handler whose PUT left the resource as it was (the same body sent again).
UNCHANGED_SCOPE_KEY = "relay.sandbox.unchanged"


def stored(scope: MutableMapping[str, Any], put: tuple[T, bool]) -> T:
    """The resource a PUT stored; the request is marked as no effect when the PUT changed nothing."""
    resource, changed = put
    if not changed:
        scope[UNCHANGED_SCOPE_KEY] = True
    return resource


def is_effect(method: str, status: int, query: Mapping[str, Any], scope: Mapping[str, Any]) -> bool:
    """Tell whether an answered request changed the sandbox: a 2xx write, not a dry run, that changed something.

    A PUT of a body equal to what is stored is answered like any other, but changes nothing, so it is no effect:
    a fault run counts a write sent again after it took effect only when it changed the gateway a second time.
    """
    changed = not scope.get(UNCHANGED_SCOPE_KEY, False)
    return method in WRITE_METHODS and 200 <= status < 300 and "dry-run" not in query and changed


class EffectLog:
    """Counts of successful writes by (method, path, Idempotency-Key); kept apart from the bounded request log."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str | None]] = Counter()

    def add(self, method: str, path: str, key: str | None) -> None:
        """Count one write that took effect."""
        self._counts[(method, path, key)] += 1

    def clear(self) -> int:
        """Forget every count; return how many effects there were."""
        total = sum(self._counts.values())
        self._counts.clear()
        return total

    def public(self, by: str, *, path: str = "", method: str | None = None) -> dict[str, Any]:
        """Return counts grouped `by` one of GROUPINGS, for writes under `path` (and of `method`)."""
        grouped: Counter[str] = Counter()
        total = without_key = 0
        for (m, p, key), n in self._counts.items():
            if not p.startswith(path) or (method is not None and m != method):
                continue
            total += n
            without_key += n if key is None else 0
            label = _label(by, m, p, key)
            if label is not None:
                grouped[label] += n
        return {
            "by": by,
            "total": total,
            "counts": dict(grouped),
            "duplicates": {k: n for k, n in grouped.items() if n > 1},
            "without_key": without_key,
        }


def _label(by: str, method: str, path: str, key: str | None) -> str | None:
    # Writes without a key have no per-key label: they are only in `total` and `without_key`.
    if by == "idempotency_key":
        return key
    return path if by == "path" else f"{method} {path}"
