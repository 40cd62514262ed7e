"""The shape the codebase promises: imports go one way (lazy ones included), short functions, tests beside code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("worker", "tasks", "webhooks")
MAX_FUNCTION_LINES = 50
# What each part may import of Relay's own packages; anything else of Relay's is a wrong-way import.
# The CLI starts everything, so it may reach tasks/ and webhooks/ (lazily, inside a command).
ALLOWED: dict[str, set[str]] = {
    "worker/devtools/sandbox": {"worker.devtools.sandbox"},
    "worker/cli": {"worker", "tasks", "webhooks"},
    "worker": {"worker"},
    "tasks": {"worker", "tasks"},
    "webhooks": {"worker", "webhooks"},
}


def _sources(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def _relay_imports(path: Path) -> set[str]:
    """Every import of Relay's packages in the file, at any depth (a lazy import counts too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] in PACKAGES}


def _allowed_for(path: Path) -> set[str]:
    relative = path.relative_to(ROOT).as_posix()
    part = max((prefix for prefix in ALLOWED if relative.startswith(prefix + "/")), key=len)
    return ALLOWED[part]


def _is_allowed(name: str, allowed: set[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(name for name in _relay_imports(path) if not _is_allowed(name, allowed))
        for path in _sources(package)
        for allowed in [_allowed_for(path)]
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_function_is_longer_than_fifty_lines() -> None:
    # The sandbox is a stand-in with long route tables: its size is the API's, not Relay's.
    too_long = {}
    for path in _sources(*PACKAGES):
        if path.is_relative_to(ROOT / "worker" / "devtools" / "sandbox"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long[f"{path.relative_to(ROOT)}:{node.name}"] = length
    assert too_long == {}


def test_tests_import_helpers_from_helper_modules_not_conftest() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if any(name.endswith("conftest") for name in _test_imports(path))
    ]
    assert offenders == []


def _test_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names
