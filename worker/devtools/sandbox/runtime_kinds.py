"""The kinds of runtime resource the sandbox serves per gateway group, as a table (path segment -> Kind).

No stand-alone upstreams: API7 EE serves no `/apisix/admin/upstreams` (api7/a7 `docs/api7ee-api-spec.md` line 92:
"NOT EXPOSED in API7 EE", it "returns 'resource not found'", a7's words for a 404; API7's admin-api.json has no such
path either). Upstreams live inline in a service, or under it as its named upstreams.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from worker.devtools.sandbox import runtime_defaults as d
from worker.devtools.sandbox import runtime_schemas as s

# Values the gateway stores but never answers. APISIX strips an SSL's `key` and `keys` from every read
# (apache/apisix#13227); that API7 also leaves out credential secrets is inferred (it documents encrypted storage).
SSL_WRITE_ONLY = ("key", "keys")
CREDENTIAL_WRITE_ONLY = frozenset({"key", "password", "secret", "private_key", "secret_key"})

Hide = Callable[[Any], Any]


def digest(value: Any) -> str:
    """Return the SHA-256 of a write-only value, for the control API (never the value)."""
    return "sha256:" + hashlib.sha256(repr(value).encode("utf-8")).hexdigest()


def _drop(value: Any) -> None:
    return None


def _hide_ssl(config: dict[str, Any], hide: Hide) -> None:
    for name in SSL_WRITE_ONLY:
        if name in config:
            shown = hide(config.pop(name))
            if shown is not None:
                config[name] = shown


def _hide_plugins(config: dict[str, Any], hide: Hide) -> None:
    plugins = config.get("plugins")
    if not isinstance(plugins, dict):
        return
    for name, conf in plugins.items():
        if name in s.AUTH_PLUGINS and isinstance(conf, dict):
            for field in CREDENTIAL_WRITE_ONLY & set(conf):
                shown = hide(conf.pop(field))
                if shown is not None:
                    conf[field] = shown


def _hide_nothing(config: dict[str, Any], hide: Hide) -> None:
    return None


@dataclass(frozen=True)
class Kind:
    """One kind of runtime resource: its checks, the defaults the gateway adds, and what it never answers."""

    name: str
    label: str
    # Fields of a body that, when present, must equal the id in the path (ADC sends `service_id`, `route_id`...).
    id_fields: tuple[str, ...]
    check: s.Check
    defaults: d.Defaults
    write_only: Callable[[dict[str, Any], Hide], None] = _hide_nothing
    # Where the list's `search` looks (API7 matches names fuzzily).
    search_field: str = "name"

    def public(self, config: dict[str, Any], hide: Hide = _drop) -> dict[str, Any]:
        """Return a copy of a stored config with write-only values dropped (or shown through `hide`)."""
        shown = copy.deepcopy(config)
        self.write_only(shown, hide)
        return shown


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("services", "service", ("id", "service_id"), s.check_service, d.service_defaults),
        Kind("routes", "route", ("id", "route_id"), s.check_route, d.route_defaults),
        Kind("stream_routes", "stream route", ("id", "stream_route_id"), s.check_stream_route, d.plugins_defaults),
        Kind(
            "consumers",
            "consumer",
            (),  # a consumer is named by its `username`, a required field checked against the path
            s.check_consumer,
            d.consumer_defaults,
            _hide_plugins,
            search_field="username",
        ),
        Kind("ssls", "ssl", ("id",), s.check_ssl, d.ssl_defaults, _hide_ssl, search_field="snis"),
        Kind("global_rules", "global rule", ("id",), s.check_global_rule, d.plugins_defaults, search_field="id"),
        Kind("plugin_metadata", "plugin metadata", (), s.check_plugin_metadata, d.no_defaults, search_field="id"),
    )
}
# Credentials live under a consumer: /apisix/admin/consumers/{username}/credentials/{id}.
CREDENTIALS = Kind("credentials", "credential", ("id",), s.check_credential, d.consumer_defaults, _hide_plugins)
# A service's named upstreams (3.5's multi-upstream): /apisix/admin/services/{service_id}/upstreams/{id}, with the
# body ADC's api7ee backend sends (`transformUpstream`: a stand-alone upstream's fields, `id` when it has one).
SERVICE_UPSTREAMS = Kind("service_upstreams", "upstream", ("id",), s.check_upstream_resource, d.upstream_defaults)
# 3.2's SSLs: the description's oneOf takes `cert`/`key` or `certs`/`keys`, not both (3.5+ takes both, from ADC).
SSLS_V32 = Kind("ssls", "ssl", ("id",), s.check_ssl_v32, d.ssl_defaults, _hide_ssl, search_field="snis")
# 3.2's route templates (/apisix/admin/routes without a gateway group): stored as sent, no runtime defaults.
ROUTE_TEMPLATES = Kind("route_templates", "route", ("id",), s.check_route_template, d.no_defaults)
