"""Checks of runtime resource bodies (API7 3.5+ per gateway group, and 3.2's per-group kinds).

Bodies follow what ADC's api7ee backend sends (api7/adc `libs/backend-api7/src/{transformer,typing}.ts`):
`desc` (not `description`), route `paths` and `service_id`, a service's default upstream inline, an SSL's first
certificate in `cert`/`key` and the rest in `certs`/`keys`, a global rule `{"plugins": {...}}`, a credential
`{"plugins": {<auth plugin>: {...}}}`. Unknown fields are kept, as there: neither the description nor APISIX's
schemas for these kinds forbid additional properties.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from worker.devtools.sandbox.schemas import check_hosts, check_labels, check_upstream
from worker.devtools.sandbox.web import ID_PATTERN, ApiError, bad_request, is_int, require_str

Check = Callable[[dict[str, Any]], None]

USERNAME_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]+$")
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"})
UPSTREAM_TYPES = frozenset({"roundrobin", "chash", "ewma", "least_conn"})
SCHEMES = frozenset({"http", "https", "grpc", "grpcs", "tcp", "udp", "tls", "kafka"})
PASS_HOST = frozenset({"pass", "node", "rewrite"})
AUTH_PLUGINS = frozenset({"key-auth", "basic-auth", "jwt-auth", "hmac-auth"})
PEM_MIN = 128  # the description's minLength for cert and key


def _object(config: Mapping[str, Any], key: str) -> None:
    if key in config and not isinstance(config[key], dict):
        raise bad_request(f"{key} must be an object")


def _common(config: dict[str, Any]) -> None:
    if "desc" in config and not isinstance(config["desc"], str):
        raise bad_request("desc must be a string")
    if "labels" in config:
        check_labels(config["labels"])
    _object(config, "plugins")
    plugins = config.get("plugins") or {}
    for name, conf in plugins.items():
        if not isinstance(conf, dict):
            raise bad_request(f"plugins.{name} must be an object")


def check_upstream_fields(upstream: Mapping[str, Any], where: str = "upstream") -> None:
    """Refuse an upstream whose balancer, scheme or pass_host is not one API7 knows."""
    check_upstream(upstream)
    if upstream.get("type", "roundrobin") not in UPSTREAM_TYPES:
        raise bad_request(f"{where}.type must be one of {', '.join(sorted(UPSTREAM_TYPES))}")
    if upstream.get("scheme", "http") not in SCHEMES:
        raise bad_request(f"{where}.scheme must be one of {', '.join(sorted(SCHEMES))}")
    if upstream.get("pass_host", "pass") not in PASS_HOST:
        raise bad_request(f"{where}.pass_host must be one of pass, node, rewrite")
    if "nodes" not in upstream and "service_name" not in upstream:
        raise bad_request(f"{where} needs nodes or a discovery service_name")


def check_service(config: dict[str, Any]) -> None:
    """Check a runtime service (its default upstream inline)."""
    _common(config)
    require_str(config, "name", max_length=1024)
    if "hosts" in config:
        check_hosts(config["hosts"])
    prefix = config.get("path_prefix")
    if prefix is not None and (not isinstance(prefix, str) or not prefix.startswith("/")):
        raise bad_request("path_prefix must be a path starting with /")
    if "strip_path_prefix" in config and not isinstance(config["strip_path_prefix"], bool):
        raise bad_request("strip_path_prefix must be a boolean")
    if config.get("type", "http") not in ("http", "stream"):
        raise bad_request("type must be http or stream")
    if "upstream" in config:
        check_upstream_fields(config["upstream"])


def check_route_template(config: dict[str, Any]) -> None:
    """Check a 3.2 route template: a name and at least one path (its service_id may be empty)."""
    _common(config)
    require_str(config, "name", max_length=1024)
    paths = config.get("paths")
    if not isinstance(paths, list) or not 1 <= len(paths) <= 64:
        raise bad_request("paths is required: an array of 1 to 64 paths")
    if not all(isinstance(p, str) and p.startswith("/") and len(p) <= 4096 for p in paths):
        raise bad_request("each of paths must be a path starting with /")
    methods = config.get("methods")
    if methods is not None and (not isinstance(methods, list) or not all(m in METHODS for m in methods)):
        raise bad_request(f"methods must be an array of {', '.join(sorted(METHODS))}")
    for key in ("priority", "status"):
        if key in config and not is_int(config[key]):
            raise bad_request(f"{key} must be an integer")
    if "status" in config and config["status"] not in (0, 1):
        raise bad_request("status must be 0 or 1")
    service_id = config.get("service_id", "")
    if not isinstance(service_id, str) or (service_id and not ID_PATTERN.fullmatch(service_id)):
        raise bad_request("service_id must be an id")


def check_route(config: dict[str, Any]) -> None:
    """Check a runtime route: a template's fields, and the service it belongs to (API7 routes live in one)."""
    check_route_template(config)
    require_str(config, "service_id", max_length=256)


def check_stream_route(config: dict[str, Any]) -> None:
    """Check a stream route (it belongs to a service, as routes do)."""
    _common(config)
    require_str(config, "service_id", max_length=256)
    if "server_port" in config and (not is_int(config["server_port"]) or not 1 <= config["server_port"] <= 65535):
        raise bad_request("server_port must be a port number")


def check_upstream_resource(config: dict[str, Any]) -> None:
    """Check a stand-alone upstream."""
    _common(config)
    require_str(config, "name", max_length=1024, required=False)
    check_upstream_fields(config)


def check_consumer(config: dict[str, Any]) -> None:
    """Check a consumer (named by its username)."""
    _common(config)
    username = require_str(config, "username", max_length=100)
    if username is not None and not USERNAME_PATTERN.fullmatch(username):
        raise bad_request("username must match ^[a-zA-Z0-9_.-]+$")


def check_credential(config: dict[str, Any]) -> None:
    """Check a consumer credential: exactly one authentication plugin."""
    _common(config)
    require_str(config, "name", max_length=1024, required=False)
    plugins = config.get("plugins")
    if not isinstance(plugins, dict) or len(plugins) != 1 or next(iter(plugins)) not in AUTH_PLUGINS:
        raise bad_request(f"plugins must hold exactly one of {', '.join(sorted(AUTH_PLUGINS))}")


def _pem_list(config: Mapping[str, Any], key: str) -> list[str]:
    values = config.get(key)
    if not isinstance(values, list) or not 1 <= len(values) <= 16:
        raise bad_request(f"{key} must be an array of 1 to 16 PEM strings")
    if not all(isinstance(v, str) and PEM_MIN <= len(v) <= 65536 for v in values):
        raise bad_request(f"each of {key} must be a PEM string of {PEM_MIN} to 65536 characters")
    return values


def _pem(config: Mapping[str, Any], key: str) -> None:
    value = config.get(key)
    if not isinstance(value, str) or not PEM_MIN <= len(value) <= 65536:
        raise bad_request(f"{key} is required: a PEM string of {PEM_MIN} to 65536 characters")


def _pems(config: Mapping[str, Any]) -> None:
    if len(_pem_list(config, "certs")) != len(_pem_list(config, "keys")):
        raise bad_request("certs and keys must have the same length")


def check_ssl(config: dict[str, Any]) -> None:
    """Check an SSL: `cert` and `key` (and `certs`/`keys` of equal length), with the SNIs it serves."""
    _pem(config, "cert")
    _pem(config, "key")
    if "certs" in config or "keys" in config:
        _pems(config)
    _ssl_fields(config)


def check_ssl_v32(config: dict[str, Any]) -> None:
    """Check a 3.2 SSL: `cert` and `key`, or else `certs` and `keys` (the description's oneOf: not both)."""
    single, multiple = "cert" in config or "key" in config, "certs" in config or "keys" in config
    if single and multiple:
        raise bad_request("give cert and key, or certs and keys, not both")
    if multiple:
        _pems(config)
    else:
        _pem(config, "cert")
        _pem(config, "key")
    _ssl_fields(config)


def _ssl_fields(config: dict[str, Any]) -> None:
    _common(config)
    if config.get("type", "server") not in ("server", "client"):
        raise bad_request("type must be server or client")
    snis = config.get("snis")
    if config.get("type", "server") == "server" and (not isinstance(snis, list) or not snis):
        raise bad_request("snis is required: an array of host names")
    if snis is not None and not all(isinstance(s, str) and s for s in snis):
        raise bad_request("each of snis must be a host name")
    if "status" in config and config["status"] not in (0, 1):
        raise bad_request("status must be 0 or 1")


def check_global_rule(config: dict[str, Any]) -> None:
    """Check a global rule: a non-empty `plugins` object."""
    plugins = config.get("plugins")
    if not isinstance(plugins, dict) or not plugins:
        raise bad_request("plugins is required: an object of at least one plugin")
    _common(config)


def check_plugin_metadata(config: dict[str, Any]) -> None:
    """Plugin metadata is the plugin's own object; nothing more to check here."""


def check_id_fields(body: Mapping[str, Any], ident: str, id_fields: tuple[str, ...]) -> None:
    """Refuse a body whose id fields name another resource than the path (APISIX's "wrong id")."""
    for name in id_fields:
        if name in body and body[name] != ident:
            raise ApiError(400, f"wrong {name}: the body says {body[name]!r}, the path {ident!r}")
