"""Write-only values: what the gateway never returns (an SSL's private key) or must not be compared or shown in
clear (consumer keys, passwords). They are left out of every comparison and every shown plan; a keyed digest of
what Relay applied stands in for them, so that rotating only a key is still seen.

    type         write-only paths (``*``: every list item or plugin)
    ssl          certificates.*.key
    credential   config.key (key-auth), config.password (basic-auth), config.secret / config.private_key
                 (jwt-auth), config.secret_key (hmac-auth)
    consumer     the same fields inside plugins.key-auth / basic-auth / jwt-auth / hmac-auth
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from typing import Any

from worker.gitops.resources import GatewayResource

HIDDEN = "<write-only>"
MASK = "***"
# Beyond the write-only paths, a value under a key named like a secret is never shown (a plugin's client_secret, a
# token): its old value on the gateway may be a secret the revision no longer knows, so it cannot be masked by value.
SENSITIVE = re.compile(r"secret|passw|token|private|credential|api[-_]?key", re.IGNORECASE)
_CREDENTIAL_FIELDS = ("key", "password", "secret", "private_key", "secret_key")
_AUTH_PLUGINS = ("key-auth", "basic-auth", "jwt-auth", "hmac-auth")
_PATHS: dict[str, list[tuple[str, ...]]] = {
    "ssl": [("certificates", "*", "key")],
    "credential": [("config", name) for name in _CREDENTIAL_FIELDS],
    "consumer": [("plugins", plugin, name) for plugin in _AUTH_PLUGINS for name in _CREDENTIAL_FIELDS],
}


def hide(resource_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` with every write-only value present replaced by ``HIDDEN``."""
    shown = copy.deepcopy(body)
    for path in _PATHS.get(resource_type, []):
        _replace(shown, path)
    return shown


def strip(resource_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` without its write-only values (what is compared with the gateway)."""
    hidden: dict[str, Any] = _drop_hidden(hide(resource_type, body))
    return hidden


def secret_values(resource_type: str, body: dict[str, Any]) -> list[str]:
    """The write-only values in ``body`` (to keep them out of logs and plans)."""
    found: list[str] = []
    for path in _PATHS.get(resource_type, []):
        _collect(body, path, found)
    return found


def digest(resource: GatewayResource, salt: bytes) -> str:
    """A keyed digest of the whole body Relay writes (write-only values included): equal bodies, equal digests."""
    canonical = json.dumps(resource.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hmac.new(salt, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def redact_sensitive(value: Any) -> Any:
    """``value`` with every value under a key named like a secret replaced by ``***``."""
    if isinstance(value, dict):
        return {key: MASK if _sensitive(key, item) else redact_sensitive(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_sensitive(item) for item in value]
    return value


def sensitive_path(path: str) -> bool:
    """Whether a dotted field path goes through a key named like a secret."""
    return any(SENSITIVE.search(part) for part in path.split("."))


def _sensitive(key: Any, item: Any) -> bool:
    return isinstance(key, str) and bool(SENSITIVE.search(key)) and item not in (None, "", HIDDEN)


def _replace(value: Any, path: tuple[str, ...]) -> None:
    if not path:
        return
    head, rest = path[0], path[1:]
    children: list[tuple[Any, Any]]
    if head == "*" and isinstance(value, list):
        children = list(enumerate(value))
    elif isinstance(value, dict) and head in value:
        children = [(head, value[head])]
    else:
        return
    for key, child in children:
        if rest:
            _replace(child, rest)
        elif child is not None:
            value[key] = HIDDEN


def _collect(value: Any, path: tuple[str, ...], found: list[str]) -> None:
    if not path:
        if isinstance(value, str) and value:
            found.append(value)
        return
    head, rest = path[0], path[1:]
    if head == "*" and isinstance(value, list):
        for child in value:
            _collect(child, rest, found)
    elif isinstance(value, dict) and head in value:
        _collect(value[head], rest, found)


def _drop_hidden(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_hidden(item) for key, item in value.items() if item != HIDDEN}
    if isinstance(value, list):
        return [_drop_hidden(item) for item in value]
    return value
