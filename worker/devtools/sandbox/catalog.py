"""Gateway groups, services and the services published to gateway groups."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from worker.devtools.sandbox.schemas import SERVER_FIELDS, merge_patch, service_config
from worker.devtools.sandbox.web import ID_PATTERN, ApiError, bad_request, not_found

DEFAULT_GATEWAY_GROUP = "default"
PUBLISH_FIELDS = frozenset({"service_id", "version", "service_version_id", "status"})
PUBLISH_ID_PATTERN = re.compile(r"^[-_a-zA-Z0-9]+$")


@dataclass
class GatewayGroup:
    """A gateway group (only read through the sandbox)."""

    id: str
    name: str
    created_at: int
    updated_at: int
    seq: int
    desc: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """Return the admin API representation."""
        return {
            "id": self.id,
            "name": self.name,
            "desc": self.desc,
            "labels": dict(self.labels),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "config": {"group_type": "API7EE_GATEWAY_3.2"},
        }

    def order_value(self, field: str) -> int:
        """Return a sortable timestamp."""
        return self.created_at if field == "created_at" else self.updated_at


@dataclass
class Service:
    """A service as managed under /apisix/admin/services."""

    id: str
    config: dict[str, Any]
    created_at: int
    updated_at: int
    seq: int
    last_published: int = 0
    published_count: int = 0

    def public(self) -> dict[str, Any]:
        """Return the admin API representation."""
        value = {**self.config, "id": self.id, "created_at": self.created_at, "updated_at": self.updated_at}
        value["published_gateway_groups_count"] = self.published_count
        if self.last_published:
            value["last_published"] = self.last_published
        return value

    def order_value(self, field: str) -> int:
        """Return a sortable timestamp."""
        return {"created_at": self.created_at, "updated_at": self.updated_at}.get(field, self.last_published)


@dataclass
class PublishedService:
    """One version of a service running in a gateway group."""

    gateway_group: GatewayGroup
    service_id: str
    version: str
    config: dict[str, Any]
    created_at: int
    publish_time: int
    seq: int
    status: int = 0
    # The service's route templates as they were when published (shown by the control API, not the admin API).
    routes: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """Return the admin API representation."""
        return {
            **self.config,
            "id": self.service_id,
            "service_id": self.service_id,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.publish_time,
            "publish_time": self.publish_time,
            "gateway_group_id": self.gateway_group.id,
            "gateway_group_name": self.gateway_group.name,
            "status": self.status,
        }

    def order_value(self, field: str) -> int:
        """Return a sortable timestamp."""
        return self.created_at if field == "created_at" else self.publish_time


def name_matches(config: Mapping[str, Any], ident: str, search: str) -> bool:
    """Match a search keyword against a resource's name or id."""
    return search in str(config.get("name", "")).lower() or search in ident.lower()


class Catalog:
    """In-memory gateway groups, services and published services."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seq = 0
        now = self._now()
        default = GatewayGroup(DEFAULT_GATEWAY_GROUP, "default", now, now, self._next_seq())
        self.gateway_groups: dict[str, GatewayGroup] = {default.id: default}
        self.services: dict[str, Service] = {}
        self.published: dict[tuple[str, str], PublishedService] = {}

    def _now(self) -> int:
        return int(self._clock())

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def gateway_group(self, group_id: str) -> GatewayGroup:
        """Return a gateway group or raise a 404."""
        group = self.gateway_groups.get(group_id)
        if group is None:
            raise not_found("gateway group", group_id)
        return group

    def add_gateway_group(self, group_id: str, name: str, desc: str = "") -> GatewayGroup:
        """Add a gateway group (the sandbox's control API; API7 makes them in its console)."""
        if group_id in self.gateway_groups:
            raise ApiError(409, f"gateway group already exists: {group_id}")
        now = self._now()
        group = GatewayGroup(group_id, name, now, now, self._next_seq(), desc=desc)
        self.gateway_groups[group_id] = group
        return group

    def service(self, service_id: str) -> Service:
        """Return a service or raise a 404."""
        service = self.services.get(service_id)
        if service is None:
            raise not_found("service", service_id)
        return service

    def create_service(self, body: Mapping[str, Any]) -> Service:
        """Create a service with a generated id."""
        config = service_config(body, require_name=True)
        now = self._now()
        service = Service(str(uuid.uuid4()), config, now, now, self._next_seq())
        self.services[service.id] = service
        return service

    def put_service(self, service_id: str, body: Mapping[str, Any]) -> Service:
        """Create or replace the service with this id."""
        if "id" in body and body["id"] != service_id:
            raise bad_request("id in body does not match the path")
        config = service_config(body, require_name=True)
        now = self._now()
        service = self.services.get(service_id)
        if service is None:
            service = Service(service_id, config, now, now, self._next_seq())
            self.services[service_id] = service
        else:
            service.config = config
            service.updated_at = now
        return service

    def patch_service(self, service_id: str, patch: Mapping[str, Any], *, dry_run: bool = False) -> Service:
        """Merge-patch a service; with `dry_run` return the result without storing it."""
        service = self.service(service_id)
        if "id" in patch and patch["id"] != service_id:
            raise bad_request("id in body does not match the path")
        fields = {k: v for k, v in patch.items() if k not in SERVER_FIELDS}
        if not fields:
            raise bad_request("patch body must change at least one field")
        # Checking the merged result covers the patch's own fields and keeps `name` required.
        config = service_config(merge_patch(service.config, fields), require_name=True)
        if dry_run:
            return replace(service, config=config, updated_at=self._now())
        service.config = config
        service.updated_at = self._now()
        return service

    def delete_service(self, service_id: str) -> Service:
        """Delete a service (what was published of it keeps running, as a snapshot)."""
        service = self.service(service_id)
        del self.services[service_id]
        return service

    def _recount(self, service_id: str) -> None:
        service = self.services.get(service_id)
        if service is not None:
            service.published_count = sum(1 for (_, sid) in self.published if sid == service_id)

    def publish(self, body: Mapping[str, Any]) -> tuple[GatewayGroup, list[PublishedService]]:
        """Publish service versions to a gateway group; all items are checked before any applies."""
        group_id = body.get("gateway_group_id")
        if not isinstance(group_id, str) or not ID_PATTERN.fullmatch(group_id):
            raise bad_request("gateway_group_id is required and must be an id")
        create_new = body.get("create_new_version")
        if create_new is not None and not isinstance(create_new, bool):
            raise bad_request("create_new_version must be a boolean")
        items = body.get("services")
        if not isinstance(items, list) or not items:
            raise bad_request("services must be a non-empty array")
        group = self.gateway_group(group_id)
        checked: list[tuple[Service, dict[str, Any], str, int]] = []
        for item in items:
            if not isinstance(item, dict):
                raise bad_request("each item of services must be an object")
            checked.append(self._check_publish_item(item, create_new))
        if len({service.id for service, *_ in checked}) != len(checked):
            raise bad_request("a service appears twice in one publish")
        now = self._now()
        done = []
        for service, config, version, status in checked:
            previous = self.published.get((group.id, service.id))
            first_seen = previous.created_at if previous and previous.version == version else now
            config.setdefault("name", service.config.get("name", service.id))
            published = PublishedService(
                group, service.id, version, config, first_seen, now, self._next_seq(), status=status
            )
            self.published[(group.id, service.id)] = published
            service.last_published = now
            self._recount(service.id)
            done.append(published)
        return group, done

    def _check_publish_item(
        self, item: dict[str, Any], create_new: bool | None
    ) -> tuple[Service, dict[str, Any], str, int]:
        service_id = item.get("service_id")
        if not isinstance(service_id, str) or not PUBLISH_ID_PATTERN.fullmatch(service_id):
            raise bad_request("service_id is required and must be an id")
        version = item.get("version")
        if not isinstance(version, str) or not version:
            raise bad_request("version is required and must be a non-empty string")
        if "upstream" not in item:
            raise bad_request("upstream is required")
        version_id = item.get("service_version_id")
        if version_id is not None and (not isinstance(version_id, str) or not PUBLISH_ID_PATTERN.fullmatch(version_id)):
            raise bad_request("service_version_id must be an id")
        if create_new is False and version_id is None:
            raise bad_request("service_version_id is required when create_new_version is false")
        status = item.get("status", 0)
        if status not in (0, 1) or isinstance(status, bool):
            raise bad_request("status must be 0 or 1")
        service = self.service(service_id)
        config = service_config({k: v for k, v in item.items() if k not in PUBLISH_FIELDS}, require_name=False)
        return service, config, version, int(status)

    def published_service(self, group_id: str, service_id: str) -> PublishedService:
        """Return a published service or raise a 404."""
        self.gateway_group(group_id)
        published = self.published.get((group_id, service_id))
        if published is None:
            raise ApiError(404, f"service {service_id} is not published to gateway group {group_id}")
        return published

    def unpublish(self, group_id: str, service_id: str) -> PublishedService:
        """Remove a service from a gateway group."""
        published = self.published_service(group_id, service_id)
        del self.published[(group_id, service_id)]
        self._recount(service_id)
        return published

    def published_in(self, group_id: str) -> list[PublishedService]:
        """Return what runs in a gateway group."""
        self.gateway_group(group_id)
        return [p for (gid, _), p in self.published.items() if gid == group_id]

    def published_of(self, service_id: str) -> list[PublishedService]:
        """Return where a service is published."""
        self.service(service_id)
        return [p for (_, sid), p in self.published.items() if sid == service_id]

    def groups_with(self, service_id: str) -> set[str]:
        """Return the gateway groups a service is published to."""
        return {gid for (gid, sid) in self.published if sid == service_id}
