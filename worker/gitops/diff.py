"""A field-level diff of two bodies: dicts compared key by key (so plugins one by one), anything else whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ABSENT = "<absent>"


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: its dotted path, the gateway's value and the file's (``ABSENT`` when missing)."""

    path: str
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        """As a plan shows it."""
        return {"field": self.path, "old": self.old, "new": self.new}


def field_changes(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Every field where ``old`` (the gateway) and ``new`` (the file) differ, in key order."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            changes += field_changes(old.get(key, ABSENT), new.get(key, ABSENT), where)
        return changes
    if _same(old, new):
        return []
    return [FieldChange(path or "(body)", old, new)]


def _same(old: Any, new: Any) -> bool:
    # JSON has one number type: the gateway's 60.0 is the file's 60; a bool is never a number.
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, int | float) and isinstance(new, int | float):
        return float(old) == float(new)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    if isinstance(old, dict) and isinstance(new, dict):
        return not field_changes(old, new)
    return bool(old == new)
