"""Reducing the gateway's side to what the file can express, so that comparing the two plans no endless updates.

Three sources of noise, each handled here (ADC's ``differv4.ts`` does the same; adc#21, adc#427):

- server fields (``created_at``, ``updated_at``, ``id``, ``gateway_group_id``, a route's ``service_id``...): only the
  keys the file's model has are kept;
- defaults the gateway fills in (``DEFAULTS``): a key the file leaves out compares equal to the gateway's default;
- plugin defaults, which only each plugin's schema knows: inside one plugin's config, keys the file does not write
  are not compared. Removing a key from a plugin is still seen: the digest of what Relay applied changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from worker.gitops import adc

_CHILDREN = {"id", "routes", "stream_routes", "upstreams", "credentials", "username"}


def _fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(model.model_fields) - _CHILDREN


EXPRESSIBLE: dict[str, frozenset[str] | None] = {
    "service": _fields(adc.AdcService),
    "route": _fields(adc.AdcRoute),
    "stream_route": _fields(adc.AdcStreamRoute),
    "upstream": _fields(adc.AdcUpstream),
    "consumer": _fields(adc.AdcConsumer),
    "credential": _fields(adc.AdcCredential),
    "ssl": _fields(adc.AdcSSL),
    "global_rule": None,  # a plugin's config: compared as a plugin's
    "plugin_metadata": None,
}

_UPSTREAM_DEFAULTS: dict[str, Any] = {
    "type": "roundrobin",
    "scheme": "http",
    "pass_host": "pass",
    "hash_on": "vars",
    "retry_timeout": 0,
    "nodes": [{"priority": 0}],
}
# Values the gateway fills in when the file leaves a key out. A dict is applied inside that key's value, a list of
# one dict to every item of that key's list.
DEFAULTS: dict[str, dict[str, Any]] = {
    "service": {"upstream": _UPSTREAM_DEFAULTS, "strip_path_prefix": True},
    "upstream": _UPSTREAM_DEFAULTS,
    "route": {"priority": 0, "enable_websocket": False},
    "stream_route": {},
    "consumer": {},
    "credential": {},
    "ssl": {"type": "server"},
    "global_rule": {},
    "plugin_metadata": {},
}


def reduce(kind: str, current: dict[str, Any], desired: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
    """The gateway's body reduced to what the desired body can express, for comparison; ``strict`` keeps the keys
    of plugin configs the file does not write (to show what differs from what Relay last applied)."""
    keys = EXPRESSIBLE[kind]
    if keys is None:
        return current if strict else _plugin_config(current, desired)
    reduced = {key: value for key, value in current.items() if key in keys}
    reduced = _without_defaults(reduced, desired, DEFAULTS[kind])
    if not strict and isinstance(reduced.get("plugins"), dict) and isinstance(desired.get("plugins"), dict):
        reduced["plugins"] = _plugins(reduced["plugins"], desired["plugins"])
    if isinstance(reduced.get("upstream"), dict) and isinstance(desired.get("upstream"), dict):
        reduced["upstream"] = {key: value for key, value in reduced["upstream"].items() if key not in ("id",)}
    return reduced


def _without_defaults(current: dict[str, Any], desired: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    result = dict(current)
    for key, default in defaults.items():
        if key not in result:
            continue
        if isinstance(default, dict) and isinstance(result[key], dict):
            inner = desired.get(key)
            result[key] = _without_defaults(result[key], inner if isinstance(inner, dict) else {}, default)
        elif isinstance(default, list) and isinstance(result[key], list):
            result[key] = _items_without_defaults(result[key], desired.get(key), default[0])
        elif key not in desired and result[key] == default:
            del result[key]
    return result


def _items_without_defaults(items: list[Any], desired: Any, default: dict[str, Any]) -> list[Any]:
    wanted = desired if isinstance(desired, list) else []
    reduced = []
    for index, item in enumerate(items):
        mine = wanted[index] if index < len(wanted) and isinstance(wanted[index], dict) else {}
        reduced.append(_without_defaults(item, mine, default) if isinstance(item, dict) else item)
    return reduced


def _plugins(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _plugin_config(config, desired[name]) if name in desired and isinstance(config, dict) else config
        for name, config in current.items()
    }


def _plugin_config(current: dict[str, Any], desired: Any) -> dict[str, Any]:
    if not isinstance(desired, dict):
        return current
    return {key: value for key, value in current.items() if key in desired}
