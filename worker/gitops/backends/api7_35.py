"""API7 3.5 and later: runtime resources per gateway group, ``PUT`` by id with ``?gateway_group_id=`` (the api7ee
backend of ADC: ``libs/backend-api7/src/{fetcher,operator,transformer}.ts``).

    file (ADC)                     API7 body
    description                    desc
    route uris                     paths; a route carries service_id
    service upstream               inline in the service body; type "stream" when its scheme is tcp/udp/tls
    ssl certificates[0]            cert, key; the rest certs, keys
    credential type + config       plugins: {<type>: <config>}
    global rule <name>: <config>   {"plugins": {<name>: <config>}}

Every list is read page by page to the end (ADC reads one page only, so a large group is silently truncated).
Routes and stream routes are listed per service with ``service_id=``, as ADC's fetcher lists them: API7 EE requires
``service_id`` when listing routes with an access token (api7/a7 commit 5f4b007).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from worker.errors import PermanentError
from worker.gitops.adc import STREAM_SCHEMES
from worker.gitops.backends.base import Write, WritePhase, checked_id, labels_in, labels_out, read_all, renamed
from worker.gitops.plan import Plan, ResourceChange
from worker.gitops.resources import DELETE_ORDER, WRITE_ORDER, GatewayResource, ResourceType
from worker.targets.caller import Caller
from worker.targets.envelopes import DEFAULT_PAGE_SIZE, unwrap_value

ADMIN = "/apisix/admin"
_OUT = {"description": "desc", "uris": "paths"}
_IN = {"desc": "description", "paths": "uris"}


def resource_path(resource: GatewayResource) -> str:
    """Where a resource lives in the 3.5+ admin API."""
    kind, rid, parent = resource.type, resource.id, resource.parent
    if kind == "credential":
        return f"{ADMIN}/consumers/{parent}/credentials/{rid}"
    if kind == "upstream":
        return f"{ADMIN}/services/{parent}/upstreams/{rid}"
    if kind == "plugin_metadata":
        return f"{ADMIN}/plugin_metadata/{rid}"
    return f"{ADMIN}/{kind}s/{rid}"


def body_out(resource: GatewayResource) -> Any:
    """The body API7 takes for a resource (ADC's ``FromADC``)."""
    body, kind = resource.body, resource.type
    if kind == "global_rule":
        return {"plugins": {resource.id: body}}
    if kind == "plugin_metadata":
        return body
    out = renamed(body, _OUT)
    if "labels" in out:
        out["labels"] = labels_out(out["labels"])
    if kind in ("route", "stream_route"):
        out["service_id"] = resource.parent
    elif kind == "service":
        scheme = (body.get("upstream") or {}).get("scheme")
        out["type"] = "stream" if scheme in STREAM_SCHEMES else "http"
    elif kind == "consumer":
        out["username"] = resource.id
    elif kind == "credential":
        out["plugins"] = {out.pop("type"): out.pop("config")}
    elif kind == "ssl":
        out.update(_certificates_out(out.pop("certificates")))
    return out


def _certificates_out(certificates: list[dict[str, str]]) -> dict[str, Any]:
    first, rest = certificates[0], certificates[1:]
    out: dict[str, Any] = {"cert": first["certificate"], "key": first["key"]}
    if rest:
        out["certs"] = [item["certificate"] for item in rest]
        out["keys"] = [item["key"] for item in rest]
    return out


def body_in(kind: ResourceType, item: dict[str, Any]) -> dict[str, Any]:
    """A body as the file would write it, from API7's answer (ADC's ``ToADC``); server fields are left for
    ``normalize`` to drop."""
    body = renamed(item, _IN)
    if "labels" in body:
        body["labels"] = labels_in(body["labels"])
    if kind == "credential":
        plugins = body.pop("plugins", None) or {}
        if isinstance(plugins, dict) and plugins:
            body["type"], body["config"] = next(iter(plugins.items()))
    elif kind == "ssl":
        body["certificates"] = _certificates_in(item)
    return body


def _certificates_in(item: dict[str, Any]) -> list[dict[str, Any]]:
    certs = [item.get("cert"), *(item.get("certs") or [])]
    keys = [item.get("key"), *(item.get("keys") or [])]
    keys += [None] * (len(certs) - len(keys))
    # The gateway never answers the keys; when it does, they are write-only values all the same.
    return [
        {"certificate": cert, **({"key": key} if key else {})} for cert, key in zip(certs, keys, strict=False) if cert
    ]


class Api7Backend:
    """A gateway group of API7 3.5 or later."""

    name = "api7-3.5"

    def __init__(self, client: Caller, group_id: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.client = client
        self.group_id = group_id
        self.page_size = page_size
        self.scope = {"gateway_group_id": group_id}

    def read(self, plugin_names: Iterable[str]) -> dict[str, GatewayResource]:
        """Every resource of the group, every page."""
        found: list[GatewayResource] = []
        for item in self._list(f"{ADMIN}/services"):
            found += self._service(self._resource("service", item))
        for item in self._list(f"{ADMIN}/consumers"):
            consumer = self._resource("consumer", item, rid=item.get("username"))
            found.append(consumer)
            path = f"{ADMIN}/consumers/{consumer.id}/credentials"
            found += [self._child("credential", cred, consumer) for cred in self._list(path, missing_ok=True)]
        found += [self._resource("ssl", item) for item in self._list(f"{ADMIN}/ssls")]
        found += [rule for item in self._list(f"{ADMIN}/global_rules") for rule in _global_rules(item)]
        found += self._metadata(plugin_names)
        return {resource.key: resource for resource in found}

    def _service(self, service: GatewayResource) -> list[GatewayResource]:
        """A service, its named upstreams and its routes (or stream routes), each list read with the service's id."""
        upstreams = self._list(f"{ADMIN}/services/{service.id}/upstreams", missing_ok=True)
        # The list holds the service's inline upstream too, under the service's id: that one is the service's
        # ``upstream``, not a named upstream (ADC's ``ToADC.transformService`` leaves it out the same way).
        found = [self._child("upstream", item, service) for item in upstreams if item.get("id") != service.id]
        # One list per service, of the kind its type holds (ADC's fetcher.ts): a group without stream routes is
        # never asked for them. The file's check that stream routes sit on a tcp/udp/tls upstream keeps the type
        # Relay writes (from that scheme) in step with the kind read here.
        kind: ResourceType = "stream_route" if service.body.get("type") == "stream" else "route"
        routes = self._list(f"{ADMIN}/{kind}s", {"service_id": service.id}, missing_ok=True)
        return [service, *found, *attach(kind, routes, [service], self._child)]

    def _child(self, kind: ResourceType, item: dict[str, Any], parent: GatewayResource) -> GatewayResource:
        child = self._resource(kind, item, parent=parent.id)
        return GatewayResource(
            kind, child.id, f"{parent.name}/{child.body.get('name') or child.id}", child.body, parent.id
        )

    def _metadata(self, names: Iterable[str]) -> list[GatewayResource]:
        found = []
        for name in sorted(set(names)):
            try:
                result = self.client.call(
                    "GET", f"{ADMIN}/plugin_metadata/{checked_id(name, 'plugin name')}", params=self.scope
                )
            except PermanentError as exc:
                if exc.status_code == 404:
                    continue
                raise
            value = unwrap_value(result.body, where=f"{self.client.name}: plugin metadata {name}")
            found.append(GatewayResource("plugin_metadata", name, name, {k: v for k, v in value.items() if k != "id"}))
        return found

    def _list(
        self, path: str, params: dict[str, str] | None = None, *, missing_ok: bool = False
    ) -> list[dict[str, Any]]:
        try:
            return read_all(self.client, path, {**self.scope, **(params or {})}, page_size=self.page_size)
        except PermanentError as exc:
            if missing_ok and exc.status_code == 404:
                return []
            raise

    def _resource(
        self, kind: ResourceType, item: dict[str, Any], *, rid: Any = None, parent: str | None = None
    ) -> GatewayResource:
        ident = checked_id(rid if rid is not None else item.get("id", item.get(f"{kind}_id")), f"{kind} id")
        body = body_in(kind, item)
        name = str(body.get("name") or ident)
        return GatewayResource(kind, ident, f"{parent}/{name}" if parent else name, body, parent)

    def requests(self, plan: Plan, version: str) -> list[WritePhase]:
        """One write per change; a phase per type and operation, global rules one at a time."""
        return phases(plan, self.write)

    def write(self, change: ResourceChange) -> Write:
        """The request of one change."""
        resource = change.resource
        if change.op == "delete":
            return Write("DELETE", resource_path(resource), dict(self.scope), None, (change,))
        return Write("PUT", resource_path(resource), dict(self.scope), body_out(resource), (change,))


def phases(plan: Plan, write: Any) -> list[WritePhase]:
    """Writes grouped by (operation, type) in the plan's order; each global rule is a phase of its own."""
    result: list[WritePhase] = []
    for op_types in ((("create", "update"), WRITE_ORDER), (("delete",), DELETE_ORDER)):
        ops, order = op_types
        for kind in order:
            batch = [write(c) for c in plan.changes if c.op in ops and c.resource.type == kind]
            if kind == "global_rule":
                result += [[item] for item in batch]
            elif batch:
                result.append(batch)
    return result


def attach(
    kind: ResourceType,
    items: Iterable[dict[str, Any]],
    services: Iterable[GatewayResource],
    child: Callable[[ResourceType, dict[str, Any], GatewayResource], GatewayResource],
) -> list[GatewayResource]:
    """Routes (or stream routes) each under the service its ``service_id`` names; one naming none of ``services``
    is left out, so nothing rests on a list's ``service_id`` filter being honoured."""
    by_id = {service.id: service for service in services}
    return [child(kind, item, by_id[item["service_id"]]) for item in items if item.get("service_id") in by_id]


def _global_rules(item: dict[str, Any]) -> list[GatewayResource]:
    plugins = item.get("plugins")
    if not isinstance(plugins, dict):
        return []
    return [
        GatewayResource(
            "global_rule", checked_id(name, "global rule"), name, config if isinstance(config, dict) else {}
        )
        for name, config in plugins.items()
    ]
