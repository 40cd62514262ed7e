"""Defaults the gateway adds to what it stores, so a client's diff must merge them before comparing (adc#21).

API7's runtime resources are APISIX's: its JSON schemas fill `default` values on write, and the admin API answers
them on every read. Only values a client does not send but reads back are listed; a value the client sent wins.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

# APISIX's upstream schema defaults (`apisix/schema_def.lua`): balancer, scheme, host passing; each node's priority.
UPSTREAM_DEFAULTS: dict[str, Any] = {"type": "roundrobin", "scheme": "http", "pass_host": "pass"}
NODE_DEFAULTS: dict[str, Any] = {"priority": 0}
# APISIX's route schema: enabled, priority 0.
ROUTE_DEFAULTS: dict[str, Any] = {"status": 1, "priority": 0}
SSL_DEFAULTS: dict[str, Any] = {"type": "server", "status": 1}
# API7 services are http unless their upstream is a stream one (ADC always sends `type`; inferred for the rest).
SERVICE_DEFAULTS: dict[str, Any] = {"type": "http"}

# The schema defaults of a few common plugins (their APISIX schemas), filled wherever the plugin is configured.
PLUGIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "key-auth": {"header": "apikey", "query": "apikey", "hide_credentials": False},
    "limit-count": {
        "key": "remote_addr",
        "key_type": "var",
        "rejected_code": 503,
        "policy": "local",
        "allow_degradation": False,
        "show_limit_quota_header": True,
    },
    "proxy-rewrite": {"use_real_request_uri_unsafe": False},
    "prometheus": {"prefer_name": False},
}
# On a consumer or a credential, key-auth holds the key only: its route-side defaults do not apply there.
CONSUMER_SIDE = frozenset({"key-auth"})


def _fill(target: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        target.setdefault(key, copy.deepcopy(value))


def _plugins(config: dict[str, Any], *, consumer_side: bool = False) -> None:
    plugins = config.get("plugins")
    if not isinstance(plugins, dict):
        return
    for name, conf in plugins.items():
        if isinstance(conf, dict) and name in PLUGIN_DEFAULTS and not (consumer_side and name in CONSUMER_SIDE):
            _fill(conf, PLUGIN_DEFAULTS[name])


def upstream_defaults(upstream: dict[str, Any]) -> None:
    """Fill an upstream's defaults and its nodes' (in place)."""
    _fill(upstream, UPSTREAM_DEFAULTS)
    nodes = upstream.get("nodes")
    if isinstance(nodes, list):
        for node in nodes:
            if isinstance(node, dict):
                _fill(node, NODE_DEFAULTS)


def service_defaults(config: dict[str, Any]) -> None:
    """Fill a service's defaults and its inline upstream's."""
    _fill(config, SERVICE_DEFAULTS)
    if isinstance(config.get("upstream"), dict):
        upstream_defaults(config["upstream"])
    _plugins(config)


def route_defaults(config: dict[str, Any]) -> None:
    """Fill a route's defaults."""
    _fill(config, ROUTE_DEFAULTS)
    _plugins(config)


def ssl_defaults(config: dict[str, Any]) -> None:
    """Fill an SSL's defaults."""
    _fill(config, SSL_DEFAULTS)


def plugins_defaults(config: dict[str, Any]) -> None:
    """Fill the defaults of the plugins of a global rule, stream route or upstream-less resource."""
    _plugins(config)


def consumer_defaults(config: dict[str, Any]) -> None:
    """Fill the defaults of a consumer's or credential's plugins (not key-auth's route-side ones)."""
    _plugins(config, consumer_side=True)


def no_defaults(config: dict[str, Any]) -> None:
    """Plugin metadata is stored as sent."""


Defaults = Callable[[dict[str, Any]], None]


def _schema(defaults: dict[str, Any], **nested: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        key: {"type": "integer" if isinstance(value, int) else "string", "default": value}
        for key, value in defaults.items()
    }
    return {"type": "object", "properties": {**properties, **nested}}


def core_schema() -> dict[str, Any]:
    """Return `GET /api/schema/core`'s value: each core resource's JSON schema, reduced to its defaults.

    ADC's api7ee backend reads the defaults it merges into the desired side from there (`index.ts` `defaultValue`);
    API7 3.5 to 3.7 answer no `upstream` entry (ADC then takes the service's), later versions do.
    """
    nodes = {"type": "array", "items": _schema(NODE_DEFAULTS)}
    upstream = _schema(UPSTREAM_DEFAULTS, nodes=nodes)
    return {
        "route": _schema(ROUTE_DEFAULTS),
        "service": _schema(SERVICE_DEFAULTS, upstream=upstream),
        "upstream": upstream,
        "ssl": _schema(SSL_DEFAULTS),
        "consumer": {"type": "object", "properties": {}},
    }
