"""Writes that took effect, counted per route and per Idempotency-Key, so a fault run can see duplicates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GROUPINGS = ("idempotency_key", "path", "route")


def is_effect(method: str, status: int, query: Mapping[str, Any]) -> bool:
    """Tell whether an answered request changed the sandbox: a 2xx write that is not a dry run."""
    return method in WRITE_METHODS and 200 <= status < 300 and "dry-run" not in query


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
