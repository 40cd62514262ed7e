"""What Relay applied, per target and gateway group: the only resources ``prune`` may ever delete.

Each entry names the repository that wrote it and the keyed digest of the body written (write-only values included),
so that a second plan knows whether the file changed since, even where the gateway hides the value. A resource is
claimed (an entry with the ``PENDING`` digest) before its first write goes out: a write whose answer is lost may
still have taken effect, and a later revision that drops the resource must be able to prune it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass

import redis

from worker.gitops import keys
from worker.gitops.resources import GatewayResource, ResourceType

PENDING = ""  # the digest of a claimed entry: its first write was sent, its answer not yet seen


@dataclass(frozen=True)
class Entry:
    """One resource Relay wrote."""

    key: str
    type: ResourceType
    id: str
    parent: str | None
    name: str
    repo: str
    digest: str

    @classmethod
    def of(cls, resource: GatewayResource, repo: str, digest: str) -> Entry:
        """The entry for ``resource`` written from ``repo``."""
        return cls(resource.key, resource.type, resource.id, resource.parent, resource.name, repo, digest)


class Inventory:
    """The inventory of one target and gateway group."""

    def __init__(self, client: redis.Redis, target: str, group: str) -> None:
        self.client = client
        self.scope = keys.scope(target, group)

    def entries(self) -> dict[str, Entry]:
        """Every entry, by resource key; unreadable entries are skipped (they cannot authorise a delete)."""
        found: dict[str, Entry] = {}
        for field, raw in self.client.hgetall(keys.INVENTORY + self.scope).items():
            try:
                entry = Entry(**json.loads(raw))
            except (ValueError, TypeError):
                continue
            name = field.decode(errors="replace") if isinstance(field, bytes) else str(field)
            if entry.key == name:
                found[entry.key] = entry
        return found

    def record(self, entry: Entry) -> None:
        """Remember that Relay wrote this resource."""
        self.client.hset(keys.INVENTORY + self.scope, entry.key, json.dumps(asdict(entry), separators=(",", ":")))

    def claim(self, entry: Entry) -> None:
        """Own a resource before its first write goes out; an entry already there (with its digest) is kept."""
        self.client.hsetnx(keys.INVENTORY + self.scope, entry.key, json.dumps(asdict(entry), separators=(",", ":")))

    def forget(self, key: str) -> None:
        """Forget a resource Relay deleted (or that is gone)."""
        self.client.hdel(keys.INVENTORY + self.scope, key)

    def salt(self) -> bytes:
        """The digest key of this group, made on first use."""
        name = keys.SALT + self.scope
        self.client.set(name, secrets.token_hex(32), nx=True)
        value = self.client.get(name)
        text = value.decode() if isinstance(value, bytes) else str(value)
        return bytes.fromhex(text)
