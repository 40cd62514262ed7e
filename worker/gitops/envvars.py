"""``${NAME}`` in a repository's values, filled only from the variables the sync action allows.

Whoever can push to the repository must not be able to read Relay's secrets through it: ``${RELAY_TOKEN_KEY}`` in
a plugin's config would carry Relay's master key to the gateway. So a name is filled only when the action allows
it by name (``env.allow``) or by prefix (``env.allow_prefix``); ``RELAY_*`` is never allowed, whatever the action
says; any other reference is an error naming it. ``$env://`` and ``$secret://`` references are the gateway's to
resolve and are left as they are. Only string values are filled (never keys), after parsing, so a value cannot
inject YAML. Every filled-in value is remembered, so that plans and errors can mask it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.gitops.yamlfile import Path

REFERENCE = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NEVER_PREFIX = "RELAY_"


@dataclass(frozen=True)
class EnvPolicy:
    """Which variables a repository may use: exact names and name prefixes."""

    allow: frozenset[str] = frozenset()
    allow_prefix: tuple[str, ...] = ()

    def allows(self, name: str) -> bool:
        """True when ``name`` may be filled in."""
        if name.startswith(NEVER_PREFIX):
            return False
        return name in self.allow or any(prefix and name.startswith(prefix) for prefix in self.allow_prefix)


@dataclass
class Filler:
    """Fills references in one desired state from ``environ``; ``used`` holds every value filled in."""

    policy: EnvPolicy
    environ: Mapping[str, str]
    used: set[str] = field(default_factory=set)

    def fill(self, value: Any, path: Path, fail: Callable[[Path, str], Exception]) -> Any:
        """``value`` with every ``${NAME}`` in its strings filled in; ``fail(path, problem)`` builds the error."""
        if isinstance(value, dict):
            return {key: self.fill(item, (*path, key), fail) for key, item in value.items()}
        if isinstance(value, list):
            return [self.fill(item, (*path, index), fail) for index, item in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return REFERENCE.sub(lambda match: self._value(match.group(1), path, fail), value)
        return value

    def _value(self, name: str, path: Path, fail: Callable[[Path, str], Exception]) -> str:
        if not _NAME.fullmatch(name):
            raise fail(path, f"${{{name[:40]}}} is not a variable reference")
        if not self.policy.allows(name):
            raise fail(path, f"${{{name}}} is not allowed (the sync action's env.allow / env.allow_prefix)")
        value = self.environ.get(name)
        if value is None:
            raise fail(path, f"${{{name}}} is allowed but not set in the worker's environment")
        self.used.add(value)
        return value


def policy(allow: Collection[str], allow_prefix: Collection[str]) -> EnvPolicy:
    """An ``EnvPolicy`` from the action's lists."""
    return EnvPolicy(frozenset(allow), tuple(allow_prefix))
