"""Checks of service bodies (the description's service schema) and JSON merge patches."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from worker.devtools.sandbox.web import bad_request, is_int, require_str

# Fields the server owns: a client may send them back (e.g. PUT of a GET), but they are not config.
SERVER_FIELDS = frozenset({"id", "created_at", "updated_at", "last_published", "published_gateway_groups_count"})
HOST_PATTERN = re.compile(r"^\*?[0-9a-zA-Z._-]+$")


def check_labels(labels: object) -> None:
    """Refuse labels that are not an object of non-empty strings without spaces."""
    if not isinstance(labels, dict) or not all(
        isinstance(v, str) and v and not any(c.isspace() for c in v) for v in labels.values()
    ):
        raise bad_request("labels must be an object of non-empty strings without spaces")


def check_hosts(hosts: object) -> None:
    """Refuse hosts that are not 1 to 32 unique host names."""
    if not isinstance(hosts, list) or not 1 <= len(hosts) <= 32:
        raise bad_request("hosts must be an array of 1 to 32 host names")
    if not all(isinstance(h, str) and HOST_PATTERN.fullmatch(h) for h in hosts):
        raise bad_request("hosts must be host names")
    if len(set(hosts)) != len(hosts):
        raise bad_request("hosts must be unique")


def check_upstream(upstream: object) -> None:
    """Refuse an upstream that is not an object or whose nodes are malformed."""
    if not isinstance(upstream, dict):
        raise bad_request("upstream must be an object")
    nodes = upstream.get("nodes")
    if nodes is None:
        return
    if not isinstance(nodes, list) or not 1 <= len(nodes) <= 64:
        raise bad_request("upstream.nodes must be an array of 1 to 64 nodes")
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("host"), str) or not node["host"]:
            raise bad_request("each upstream node needs a host")
        port, weight = node.get("port"), node.get("weight")
        if not is_int(port) or not 1 <= port <= 65535:
            raise bad_request("each upstream node needs a port between 1 and 65535")
        if not is_int(weight) or not 0 <= weight <= 65535:
            raise bad_request("each upstream node needs a weight between 0 and 65535")


def service_config(body: Mapping[str, Any], *, require_name: bool) -> dict[str, Any]:
    """Check a service body (the description's service schema) and return its config fields."""
    config = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
    if not config:
        raise bad_request("service body must not be empty")
    require_str(config, "name", max_length=1024, required=require_name)
    if "desc" in config and not isinstance(config["desc"], str):
        raise bad_request("desc must be a string")
    if "labels" in config:
        check_labels(config["labels"])
    if "hosts" in config:
        check_hosts(config["hosts"])
    if "path_prefix" in config:
        prefix = config["path_prefix"]
        if not isinstance(prefix, str) or not prefix.startswith("/") or len(prefix) > 4096:
            raise bad_request("path_prefix must be a path starting with /")
    if "plugins" in config and not isinstance(config["plugins"], dict):
        raise bad_request("plugins must be an object")
    if "upstream" in config:
        check_upstream(config["upstream"])
    return config


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7396 JSON merge patch (null removes a key, objects merge, the rest replaces)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
