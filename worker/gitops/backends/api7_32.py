"""API7 3.2: services and routes are templates (``/apisix/admin/services``, ``/apisix/admin/routes``, no gateway
group), made live by ``POST /api/services/publish``; consumers, SSLs, global rules and plugin metadata live per
gateway group as in 3.5 (``api7/admin-api.json``).

A service or route change is its template write, then one publish of every touched service (the publish item is
the service's body with its ``service_id`` and a ``version``). A publish takes every route template of its service,
so the plan sees the route templates of services not published in the group too (a run whose publish failed leaves
them), and Relay's own are pruned before they could go live. Deleting a service unpublishes it from the group
(``DELETE /api/gateway_groups/{gg}/services/{id}``), then deletes the route templates Relay wrote for it (a later
publish of the service would take them live again); the service template stays, as other groups may publish it.
3.2 has no named upstreams, stream routes, consumer credentials (a consumer's auth plugins stand for them) or
``strip_path_prefix``: a file using them is refused by name. Its SSL takes ``cert``/``key`` or ``certs``/``keys``, not
both: several certificates go as ``certs``/``keys`` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from worker.errors import GitOpsError
from worker.gitops.backends.api7_35 import ADMIN, Api7Backend, attach, body_out, phases
from worker.gitops.backends.base import Write, WritePhase, read_all
from worker.gitops.plan import Plan, ResourceChange
from worker.gitops.resources import GatewayResource

# What 3.2's templates take (admin-api.json), beyond which a file's field cannot be applied.
_SERVICE_FIELDS = frozenset({"name", "desc", "labels", "hosts", "path_prefix", "plugins", "upstream"})
_ROUTE_FIELDS = frozenset({"name", "desc", "labels", "methods", "paths", "plugins", "service_id", "enable_websocket"})
_UNSUPPORTED = frozenset({"stream_route", "upstream", "credential"})


class Api7V32Backend(Api7Backend):
    """A gateway group of API7 3.2."""

    name = "api7-3.2"

    def read(self, plugin_names: Iterable[str]) -> dict[str, GatewayResource]:
        """Published services and the route templates of every service; the rest per group as in 3.5."""
        services = self._published()
        templates = read_all(self.client, f"{ADMIN}/routes", page_size=self.page_size)
        found = services + attach("route", templates, services + self._unpublished(services, templates), self._child)
        rest = super().read(plugin_names)
        kept = {key: value for key, value in rest.items() if value.type not in ("service", "route", *_UNSUPPORTED)}
        return {**kept, **{resource.key: resource for resource in found}}

    def _unpublished(self, services: list[GatewayResource], templates: list[dict[str, Any]]) -> list[GatewayResource]:
        """The services not published in this group that route templates name, by id and name only.

        A publish takes every route template of its service, so the plan must see those of a service not published
        yet (left by a run whose publish failed): Relay's own are pruned or updated before the publish takes them.
        """
        live = {service.id for service in services}
        waiting = {str(item["service_id"]) for item in templates if item.get("service_id")} - live
        if not waiting:
            return []
        names = {str(item.get("id")): str(item.get("name") or item.get("id")) for item in self._templates()}
        return [GatewayResource("service", sid, names.get(sid, sid), {}) for sid in sorted(waiting)]

    def _templates(self) -> list[dict[str, Any]]:
        return read_all(self.client, f"{ADMIN}/services", page_size=self.page_size)

    def _list(
        self, path: str, params: dict[str, str] | None = None, *, missing_ok: bool = False
    ) -> list[dict[str, Any]]:
        if path == f"{ADMIN}/services":
            return []  # 3.2's services of a group are read from what is published (above)
        return super()._list(path, params, missing_ok=missing_ok)

    def requests(self, plan: Plan, version: str) -> list[WritePhase]:
        """Template writes, route deletes, one publish, then the per-group resources and the unpublishes."""
        for change in plan.changes:
            self._check(change)
        templates = [c for c in plan.changes if c.resource.type in ("service", "route")]
        rest = Plan(changes=[c for c in plan.changes if c not in templates])
        deleted = {c.resource.id for c in templates if c.op == "delete" and c.resource.type == "service"}
        result: list[WritePhase] = []
        for kind in ("service", "route"):
            batch = [self._template(c) for c in templates if c.op != "delete" and c.resource.type == kind]
            result += [batch] if batch else []
        route_deletes = [
            Write("DELETE", f"{ADMIN}/routes/{c.resource.id}", {}, None, (c,))
            for c in templates
            if c.op == "delete" and c.resource.type == "route" and c.resource.parent not in deleted
        ]
        result += [route_deletes] if route_deletes else []
        publish = self._publish(plan, templates, deleted, version)
        result += [[publish]] if publish else []
        result += phases(rest, self.write)
        unpublish = [self._unpublish(c) for c in templates if c.op == "delete" and c.resource.type == "service"]
        # Then the route templates of the services unpublished: left behind, a later publish of the service would
        # take them live again.
        leftovers = [
            Write("DELETE", f"{ADMIN}/routes/{c.resource.id}", {}, None, (c,))
            for c in templates
            if c.op == "delete" and c.resource.type == "route" and c.resource.parent in deleted
        ]
        return result + [phase for phase in (unpublish, leftovers) if phase]

    def write(self, change: ResourceChange) -> Write:
        """As in 3.5, but an SSL with several certificates sends them all as ``certs``/``keys`` (3.2 takes one form)."""
        written = super().write(change)
        body = written.body
        if change.resource.type != "ssl" or not isinstance(body, dict) or "certs" not in body:
            return written
        single = {"certs": [body["cert"], *body["certs"]], "keys": [body["key"], *body["keys"]]}
        shaped = {k: v for k, v in body.items() if k not in ("cert", "key", "certs", "keys")} | single
        return Write(written.method, written.path, written.params, shaped, written.changes)

    def _check(self, change: ResourceChange) -> None:
        resource = change.resource
        if resource.type in _UNSUPPORTED:
            raise GitOpsError(f"API7 3.2 has no {resource.type.replace('_', ' ')}s ({resource.name})")
        allowed = {"service": _SERVICE_FIELDS, "route": _ROUTE_FIELDS}.get(resource.type)
        if allowed is not None and change.op != "delete":
            extra = sorted(set(body_out(resource)) - allowed - {"type"})
            if extra:
                raise GitOpsError(f"API7 3.2 cannot apply {', '.join(extra)} of {resource.type} {resource.name}")

    def _template(self, change: ResourceChange) -> Write:
        body = {k: v for k, v in body_out(change.resource).items() if k != "type"}
        return Write("PUT", f"{ADMIN}/{change.resource.type}s/{change.resource.id}", {}, body, (change,))

    def _publish(self, plan: Plan, templates: list[ResourceChange], deleted: set[str], version: str) -> Write | None:
        touched = {c.resource.id if c.resource.type == "service" else c.resource.parent for c in templates}
        touched -= deleted
        services = {c.resource.id: c.resource for c in plan.changes if c.resource.type == "service"}
        if touched - set(services) - {None}:
            # A route changed under a service the plan leaves alone: publish the service as the group has it.
            services = {service.id: service for service in self._published()} | services
        items = []
        for service_id in sorted(s for s in touched if s):
            resource = services.get(service_id)
            if resource is None:
                continue  # a route template of a service not published here: nothing to make live
            body = {k: v for k, v in body_out(resource).items() if k != "type"}
            items.append({**body, "service_id": service_id, "version": version})
        if not items:
            return None
        body = {"gateway_group_id": self.group_id, "create_new_version": True, "services": items}
        return Write("POST", "/api/services/publish", {}, body, ())

    def _published(self) -> list[GatewayResource]:
        """The services published in the group."""
        published = self._list(f"/api/gateway_groups/{self.group_id}/services", {})
        return [self._resource("service", item, rid=item.get("service_id", item.get("id"))) for item in published]

    def _unpublish(self, change: ResourceChange) -> Write:
        path = f"/api/gateway_groups/{self.group_id}/services/{change.resource.id}"
        return Write("DELETE", path, {}, None, (change,))
