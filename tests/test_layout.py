"""The shape the codebase promises: imports go one way (lazy ones included), short functions, tests beside code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("worker", "tasks", "webhooks")
MAX_FUNCTION_LINES = 50
# What each part may import of Relay's own packages; anything else of Relay's is a wrong-way import.
# The CLI starts everything, so it may reach tasks/ and webhooks/ (lazily, inside a command). The development tools
# drive Relay from outside (processes, HTTP, Redis) and may use the core and the CLI; the sandbox stands in for
# someone else's API, so it imports only itself.
ALLOWED: dict[str, set[str]] = {
    "worker/devtools/sandbox": {"worker.devtools.sandbox"},
    "worker/devtools": {"worker"},
    "worker/cli": {"worker", "tasks", "webhooks"},
    "worker": {"worker"},
    "tasks": {"worker", "tasks"},
    "webhooks": {"worker", "webhooks"},
    "webhooks/bench.py": {"worker.cli"},  # `python -m webhooks.bench`: the old name of `relay bench --only ingest`
}
# Within what ALLOWED grants, what a part must still not import: the core never reaches up into the CLI or the tools.
FORBIDDEN: dict[str, set[str]] = {
    "worker/devtools": set(),
    "worker/cli": set(),
    "worker": {"worker.cli", "worker.devtools"},
    "tasks": {"worker.cli", "worker.devtools"},
    "webhooks": {"worker.cli", "worker.devtools"},
    "webhooks/bench.py": set(),
}


def _sources(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Each module of ``packages`` to the modules it imports, at any depth (lazy and TYPE_CHECKING imports too).

    ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``; a parent package's
    ``__init__`` is not an edge (it holds re-exports, and it runs before the module either way).
    """
    files = {_module_name(root, path): path for package in packages for path in (root / package).rglob("*.py")}

    def module_of(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(module_of(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(module_of(f"{node.module}.{alias.name}") for alias in node.names)
        graph[name] = {target for target in targets if target is not None and target != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[str]:
    """One shortest cycle per group of modules that import each other, as ``a -> b -> a``."""
    cycles = []
    for group in _strongly_connected(graph):
        start = min(group)
        cycles.append(" -> ".join([*_shortest_path_back(graph, start, group), start]))
    return sorted(cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    reach = {node: _reachable(graph, node) for node in graph}
    groups = {frozenset(other for other in reach[node] if node in reach[other]) for node in graph}
    return [set(group) for group in groups if len(group) > 1]


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in graph.get(todo.pop(), set()) - seen:
            seen.add(target)
            todo.append(target)
    return seen


def _shortest_path_back(graph: dict[str, set[str]], start: str, group: set[str]) -> list[str]:
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        for target in sorted(graph[node] & group):
            if target == start:
                return paths[node]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"{start} is in a cycle but no path leads back to it")


def _relay_imports(path: Path) -> set[str]:
    """Every import of Relay's packages in the file, at any depth (a lazy import counts too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] in PACKAGES}


def _part(path: Path, table: dict[str, set[str]]) -> set[str]:
    relative = path.relative_to(ROOT).as_posix()
    return table[max((prefix for prefix in table if relative == prefix or relative.startswith(prefix + "/")), key=len)]


def _within(name: str, prefixes: set[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _relay_imports(path)
            if not _within(name, _part(path, ALLOWED)) or _within(name, _part(path, FORBIDDEN))
        )
        for path in _sources(package)
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_import_cycles_lazy_imports_included() -> None:
    assert import_cycles(module_graph(ROOT, PACKAGES)) == []


def test_the_cycle_finder_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    package = tmp_path / "relay_fake"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from relay_fake import b\n")
    (package / "b.py").write_text("def f() -> None:\n    from relay_fake.c import X\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import relay_fake.a\nX = 1\n"
    )
    (package / "d.py").write_text("from relay_fake.a import something\n")  # into the cycle, not part of it

    graph = module_graph(tmp_path, ("relay_fake",))

    assert graph["relay_fake.a"] == {"relay_fake.b"}  # `from package import module` names the module
    assert import_cycles(graph) == ["relay_fake.a -> relay_fake.b -> relay_fake.c -> relay_fake.a"]


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
