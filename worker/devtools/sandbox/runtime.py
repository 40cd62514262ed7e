"""Runtime resources per gateway group: stored bodies, server fields, references between them, cascades."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.devtools.sandbox.runtime_kinds import CREDENTIALS, KINDS, SERVICE_UPSTREAMS, Hide, Kind
from worker.devtools.sandbox.runtime_schemas import check_id_fields
from worker.devtools.sandbox.web import bad_request, not_found

# Fields the server owns: a client may send them back (a PUT of what it read), but they are not config.
SERVER_FIELDS = frozenset({"id", "created_at", "updated_at"})
# 3.2's route templates are stored as the resources of this pseudo gateway group, which no real group's id can be.
TEMPLATES = ""
# Kinds whose `service_id` must name a service of the same gateway group.
IN_A_SERVICE = ("routes", "stream_routes")
# Kinds stored under a resource of another kind (the path names it), which takes them with it when deleted
# (ADC's api7ee operator skips deleting a deleted consumer's credentials and a deleted service's upstreams).
OWNERS: dict[Kind, Kind] = {CREDENTIALS: KINDS["consumers"], SERVICE_UPSTREAMS: KINDS["services"]}


@dataclass
class Resource:
    """One stored resource: the config as the gateway keeps it (defaults filled, write-only values included)."""

    kind: Kind
    id: str
    config: dict[str, Any]
    created_at: int
    updated_at: int
    seq: int
    parent: str | None = None  # a credential's consumer

    def public(self, hide: Hide | None = None) -> dict[str, Any]:
        """Return the resource as the admin API answers it (write-only values left out)."""
        value = self.kind.public(self.config) if hide is None else self.kind.public(self.config, hide)
        value["id"] = self.id
        for name in self.kind.id_fields:
            value[name] = self.id
        value["created_at"], value["updated_at"] = self.created_at, self.updated_at
        return value

    def order_value(self, field: str) -> int:
        """Return a sortable timestamp."""
        return self.created_at if field == "created_at" else self.updated_at

    def matches(self, search: str) -> bool:
        """Match a `search` keyword (already lower-case) fuzzily, as API7's lists do."""
        value = self.config.get(self.kind.search_field, self.id)
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        return search in text.lower() or search in self.id.lower()


def _key(ident: str, parent: str | None) -> str:
    return ident if parent is None else f"{parent}/{ident}"


def _not_the_default(kind: Kind, ident: str, parent: str | None) -> None:
    # Inferred (nothing documents a write to it): the default upstream is the service's `upstream`, written with it.
    if kind is SERVICE_UPSTREAMS and ident == parent:
        raise bad_request(f"upstream {ident} is the default upstream of service {parent}: write it with the service")


class RuntimeStore:
    """Resources of every gateway group, by kind and id."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seq = 0
        self._groups: dict[str, dict[str, dict[str, Resource]]] = {}

    def bucket(self, group_id: str, kind: Kind) -> dict[str, Resource]:
        """Return the resources of one kind in one gateway group (a live dict)."""
        return self._groups.setdefault(group_id, {}).setdefault(kind.name, {})

    def items(self, group_id: str, kind: Kind, parent: str | None = None) -> list[Resource]:
        """Return the resources of one kind (of one consumer, for credentials)."""
        return [r for r in self.bucket(group_id, kind).values() if r.parent == parent]

    def listed(self, group_id: str, kind: Kind, parent: str | None = None) -> list[Resource]:
        """Return what a list of one kind answers: a service's upstreams include its inline (default) one."""
        found = self.items(group_id, kind, parent)
        default = self._default_upstream(group_id, kind, parent)
        return found if default is None else [default, *found]

    def get(self, group_id: str, kind: Kind, ident: str, parent: str | None = None) -> Resource:
        """Return one resource or raise a 404."""
        found = self.bucket(group_id, kind).get(_key(ident, parent))
        if found is None and ident == parent:
            found = self._default_upstream(group_id, kind, parent)
        if found is None:
            raise not_found(kind.label, ident)
        return found

    def _default_upstream(self, group_id: str, kind: Kind, parent: str | None) -> Resource | None:
        # API7 lists a service's inline upstream among its upstreams under the service's id: ADC's api7ee backend
        # leaves out the item whose id is the service's ("ignore default upstream", transformer.ts).
        if kind is not SERVICE_UPSTREAMS or parent is None:
            return None
        service = self.get(group_id, KINDS["services"], parent)
        upstream = service.config.get("upstream")
        if not isinstance(upstream, dict):
            return None
        return Resource(kind, service.id, upstream, service.created_at, service.updated_at, service.seq, service.id)

    def find(self, kind: Kind, ident: str) -> str | None:
        """Return the gateway group holding a resource of this id (3.2 names consumers and SSLs by id alone)."""
        return next((g for g, kinds in self._groups.items() if ident in kinds.get(kind.name, {})), None)

    def put(
        self, group_id: str, kind: Kind, ident: str, body: Mapping[str, Any], parent: str | None = None
    ) -> tuple[Resource, bool]:
        """Create or replace a resource (a PUT replaces the whole body); return it and whether that changed it."""
        check_id_fields(body, ident, kind.id_fields)
        _not_the_default(kind, ident, parent)
        config = {k: v for k, v in body.items() if k not in SERVER_FIELDS and k not in kind.id_fields}
        kind.check(config)
        if kind.name == "consumers" and config["username"] != ident:
            raise bad_request(f"wrong username: the body says {config['username']!r}, the path {ident!r}")
        self._check_references(group_id, kind, config, parent)
        kind.defaults(config)
        now = int(self._clock())
        bucket = self.bucket(group_id, kind)
        existing = bucket.get(_key(ident, parent))
        if existing is not None:
            changed = existing.config != config
            existing.config, existing.updated_at = config, now
            return existing, changed
        self._seq += 1
        created = Resource(kind, ident, config, now, now, self._seq, parent)
        bucket[_key(ident, parent)] = created
        return created, True

    def _check_references(self, group_id: str, kind: Kind, config: Mapping[str, Any], parent: str | None) -> None:
        if kind.name in IN_A_SERVICE and config["service_id"] not in self.bucket(group_id, KINDS["services"]):
            # APISIX's wording for a route naming a missing service.
            raise bad_request(f"failed to fetch service info by service id [{config['service_id']}]: not found")
        if "upstream_id" in config:
            # APISIX resolves `upstream_id` among stand-alone upstreams, which API7 3.5+ does not serve: it can name
            # none (inferred: nothing documents what 3.5 answers; ADC's api7ee backend never sends the field).
            raise bad_request(f"failed to fetch upstream info by upstream id [{config['upstream_id']}]: not found")
        owner = OWNERS.get(kind)
        if owner is not None and parent not in self.bucket(group_id, owner):
            raise not_found(owner.label, str(parent))

    def delete(self, group_id: str, kind: Kind, ident: str, parent: str | None = None) -> Resource:
        """Delete a resource: a service takes its routes and upstreams with it, a consumer its credentials."""
        _not_the_default(kind, ident, parent)
        gone = self.get(group_id, kind, ident, parent)
        del self.bucket(group_id, kind)[_key(ident, parent)]
        self._cascade(group_id, kind, ident)
        return gone

    def _cascade(self, group_id: str, kind: Kind, ident: str) -> None:
        if kind.name == "services":
            # API7 deletes a service's routes with it (ADC's api7ee operator skips those deletes for that reason).
            for child in IN_A_SERVICE:
                bucket = self.bucket(group_id, KINDS[child])
                for key in [k for k, r in bucket.items() if r.config.get("service_id") == ident]:
                    del bucket[key]
        for held_kind, owner in OWNERS.items():
            if owner is kind:
                held = self.bucket(group_id, held_kind)
                for key in [k for k, r in held.items() if r.parent == ident]:
                    del held[key]

    def snapshot(self, group_id: str, hide: Hide) -> dict[str, dict[str, dict[str, Any]]]:
        """Return every resource of a gateway group by kind and id, write-only values shown through `hide`."""
        kinds = self._groups.get(group_id, {})
        return {name: {key: r.public(hide) for key, r in sorted(res.items())} for name, res in sorted(kinds.items())}

    def drop_group(self, group_id: str) -> None:
        """Forget a gateway group's resources."""
        self._groups.pop(group_id, None)
