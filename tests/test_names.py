"""Each name one meaning: a class or type alias is defined in one module of Relay's packages only."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("worker", "tasks", "webhooks")


def _defined_types(path: Path) -> set[str]:
    """Module-level classes and type aliases (``Name = ...`` / ``Name: TypeAlias = ...`` with a CapWords name)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(
                target.id
                for target in targets
                if isinstance(target, ast.Name) and target.id[:1].isupper() and not target.id.isupper()
            )
    return names


def test_each_class_and_type_alias_has_one_home() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in _defined_types(path):
                homes[name].append(path.relative_to(ROOT).as_posix())

    assert {name: places for name, places in homes.items() if len(places) > 1} == {}


def test_the_names_that_meant_several_things_now_mean_one() -> None:
    homes = {
        name: sorted(
            path.relative_to(ROOT).as_posix()
            for package in PACKAGES
            for path in (ROOT / package).rglob("*.py")
            if name in _defined_types(path)
        )
        for name in ("Delivery", "TokenStore", "TokenRecord", "Action")
    }
    assert homes == {
        "Delivery": ["webhooks/sources.py"],  # a webhook delivery
        "TokenStore": ["worker/tokens/store.py"],  # Relay's encrypted token store
        "TokenRecord": ["worker/tokens/records.py"],
        "Action": ["worker/config/rules.py"],  # what a rule does
    }
