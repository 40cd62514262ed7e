"""The Dockerfile, parsed: a non-root user, a health check, dependencies installed before the source is copied."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("worker", "tasks", "webhooks")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _index(predicate: str, instruction: str) -> int:
    return next(i for i, (name, args) in enumerate(_instructions()) if name == instruction and predicate in args)


def test_slim_python_311_base() -> None:
    assert _instructions()[0] == ("FROM", "python:3.11-slim")


def test_runs_as_a_non_root_user() -> None:
    users = [args for name, args in _instructions() if name == "USER"]
    assert users, "no USER: the container runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_has_a_health_check_that_exists() -> None:
    checks = [args for name, args in _instructions() if name == "HEALTHCHECK"]
    assert len(checks) == 1
    assert '"relay", "health", "webhooks"' in checks[0]


def test_dependencies_are_installed_from_the_lock_before_the_source_is_copied() -> None:
    lock_copied = _index("requirements.lock", "COPY")
    lock_installed = _index("-r requirements.lock", "RUN")
    first_source = min(_index(package, "COPY") for package in SOURCES)
    assert lock_copied < lock_installed < first_source
    assert _index("--no-deps .", "RUN") > first_source  # Relay itself, leaving the locked layer alone


def test_the_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = {
        match.group(1).lower().replace("_", "-")
        for match in re.finditer(r"^([A-Za-z0-9_.-]+)==\S+", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    }
    wanted = {re.split(r"[\[<>=!~ ]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]}
    assert wanted - pinned == set()


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", ".venv", ".relay", "relay.yaml", ".env", "tests"} <= ignored


def test_git_is_installed_for_reading_repositories() -> None:
    runs = [args for name, args in _instructions() if name == "RUN"]
    assert any("apt-get install" in args and " git " in f"{args} " for args in runs)
