"""The configuration file: a YAML 1.2 loader, ``${ENV}`` expansion, and the pydantic-settings source reading it.

Secrets are written as ``${ENV_NAME}`` (expanded from the environment when the file is read), so they never pass
through the YAML parser.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from worker.config.base import dotted
from worker.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("relay.yaml")

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# ``${NAME}`` is not valid YAML inside a flow mapping (``{secret: ${X}}``), so references are swapped for a
# plain-scalar placeholder before parsing and expanded afterwards; secret values never pass through the parser.
_PLACEHOLDER = re.compile(r"__relay_env_([A-Za-z_][A-Za-z0-9_]*)__")


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false, so a rule's ``on:`` key stays the string ``on``."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class YamlSource(PydanticBaseSettingsSource):
    """Reads the file named by ``RELAY_CONFIG`` (default ``./relay.yaml``), expanding ``${ENV}`` references."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._data = read_config_file(config_path())

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def config_path() -> Path:
    """The configuration file in force: ``RELAY_CONFIG`` or ``./relay.yaml``."""
    return Path(os.environ.get("RELAY_CONFIG") or DEFAULT_CONFIG_PATH)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the YAML file and expand ``${ENV}``; a missing default file is an empty configuration."""
    data = parse_config_file(path)
    try:
        expanded = _expand(data, ())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    assert isinstance(expanded, dict)
    return expanded


def parse_config_file(path: Path) -> dict[str, Any]:
    """Parse the YAML file, leaving ``${ENV}`` references unexpanded (as placeholders ``_expand`` knows)."""
    if not path.exists():
        if os.environ.get("RELAY_CONFIG"):
            raise ConfigError(f"{path}: configuration file not found")
        return {}
    try:
        text = _ENV_REFERENCE.sub(r"__relay_env_\1__", path.read_text(encoding="utf-8"))
        data = yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    return data


def unset_references(path: Path) -> list[tuple[str, str]]:
    """``(key, variable)`` for every ``${VARIABLE}`` in the file that the environment does not set."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, where: tuple[str | int, ...]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*where, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*where, index))
        elif isinstance(value, str):
            found.extend((dotted(where), name) for name in _PLACEHOLDER.findall(value) if os.environ.get(name) is None)

    walk(parse_config_file(path), ())
    return found


def _expand(value: Any, where: tuple[str | int, ...]) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, (*where, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, (*where, index)) for index, item in enumerate(value)]
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda match: _env_value(match.group(1), where), value)
    return value


def _env_value(name: str, where: tuple[str | int, ...]) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"{dotted(where)}: environment variable {name} is not set")
    return value
