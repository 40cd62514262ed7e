"""Control API for gateway groups and what they hold (no authentication, never recorded, never faulted).

- `POST /_sandbox/gateway_groups` `{"id", "name", "desc"?}` -> 201 and the group (API7 makes groups in its
  console; tests need several, with names a fuzzy search confuses).
- `GET /_sandbox/gateway_groups/{id}` -> the group's whole state, for tests' assertions:
  `{"api7_version", "gateway_group", "resources": {kind: {id: value}}, "published": {service_id: value}}`
  (credentials are keyed `<username>/<id>`, a service's named upstreams, kind `service_upstreams`,
  `<service_id>/<id>`; write-only values such as SSL keys and credential keys appear only as
  `"sha256:<hex>"` digests, never in clear; `published` is 3.2's, each with the `routes` its service had when
  published).
- `POST /_sandbox/gateway_groups/{id}/resources`
  `{"kind", "id", "value", "made_by": "hand"|"adc", "consumer"?, "service"?}`
  -> 201 and the stored value: a resource made outside Relay, through the same checks and defaults as the admin
  API. In 3.2 mode the kinds are consumers, ssls, global_rules and plugin_metadata (services and routes are
  templates: make and publish them through the admin API). `made_by: "adc"` adds the label `managed-by: adc`,
  as ADC does (adc#533). `consumer` names a credential's, `service` a named upstream's.
- `GET /_sandbox/templates` -> 3.2's service and route templates: `{"services": {id: value}, "routes": {...}}`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.runtime import TEMPLATES
from worker.devtools.sandbox.runtime_kinds import (
    CREDENTIALS,
    KINDS,
    ROUTE_TEMPLATES,
    SERVICE_UPSTREAMS,
    SSLS_V32,
    Kind,
    digest,
)
from worker.devtools.sandbox.state import SandboxState
from worker.devtools.sandbox.web import ID_PATTERN, bad_request, path_id, read_object, require_str

SEED_FIELDS = frozenset({"kind", "id", "value", "made_by", "consumer", "service"})
MADE_BY = ("hand", "adc")
# The field naming the resource a held kind lives under.
OWNER_FIELDS = {CREDENTIALS.name: "consumer", SERVICE_UPSTREAMS.name: "service"}


def seed_kinds(state: SandboxState) -> dict[str, Kind]:
    """Return the kinds a gateway group holds in this generation (3.2's services and routes are templates)."""
    if state.runtime_api:
        return {**KINDS, CREDENTIALS.name: CREDENTIALS, SERVICE_UPSTREAMS.name: SERVICE_UPSTREAMS}
    return {
        "consumers": KINDS["consumers"],
        "ssls": SSLS_V32,
        **{k: KINDS[k] for k in ("global_rules", "plugin_metadata")},
    }


def _seed_kind(state: SandboxState, body: dict[str, Any]) -> Kind:
    unknown = set(body) - SEED_FIELDS
    if unknown:
        raise bad_request(f"unknown fields: {', '.join(sorted(unknown))}")
    name = body.get("kind")
    kinds = seed_kinds(state)
    if name not in kinds:
        raise bad_request(f"kind must be one of {', '.join(sorted(kinds))}")
    if body.get("made_by", "hand") not in MADE_BY:
        raise bad_request("made_by must be hand or adc")
    if not isinstance(body.get("value"), dict):
        raise bad_request("value must be an object")
    return kinds[name]


def _seed_owner(kind: Kind, body: dict[str, Any]) -> str | None:
    field = OWNER_FIELDS.get(kind.name)
    if field is None:
        return None
    owner = body.get(field)
    if not isinstance(owner, str):
        raise bad_request(f"{field} is required for kind {kind.name}")
    return owner


def group_control_routes(state: SandboxState) -> list[BaseRoute]:
    """Return the /_sandbox gateway group routes."""
    catalog, store = state.catalog, state.runtime

    async def add_group(request: Request) -> JSONResponse:
        body = await read_object(request)
        group_id = require_str(body, "id", max_length=256)
        name = require_str(body, "name", max_length=100)
        desc = body.get("desc", "")
        if not ID_PATTERN.fullmatch(str(group_id)) or not isinstance(desc, str):
            raise bad_request("id must be an id and desc a string")
        group = catalog.add_gateway_group(str(group_id), str(name), desc)
        return JSONResponse(group.public(), status_code=201)

    async def group_state(request: Request) -> JSONResponse:
        group = catalog.gateway_group(path_id(request, "gateway_group_id"))
        published = {p.service_id: {**p.public(), "routes": p.routes} for p in catalog.published_in(group.id)}
        return JSONResponse(
            {
                "api7_version": state.api7_version,
                "gateway_group": group.public(),
                "resources": store.snapshot(group.id, digest),
                "published": published,
            }
        )

    async def seed(request: Request) -> JSONResponse:
        group = catalog.gateway_group(path_id(request, "gateway_group_id"))
        body = await read_object(request)
        kind = _seed_kind(state, body)
        ident = require_str(body, "id", max_length=256)
        owner = _seed_owner(kind, body)
        value = dict(body["value"])
        if body.get("made_by") == "adc":
            value["labels"] = {**value.get("labels", {}), "managed-by": "adc"}
        resource, _ = store.put(group.id, kind, str(ident), value, owner)
        return JSONResponse(resource.public(digest), status_code=201)

    async def templates(request: Request) -> JSONResponse:
        services = {s.id: s.public() for s in catalog.services.values()}
        routes = {r.id: r.public() for r in store.items(TEMPLATES, ROUTE_TEMPLATES)}
        return JSONResponse({"services": services, "routes": routes})

    one = "/_sandbox/gateway_groups/{gateway_group_id}"
    return [
        Route("/_sandbox/gateway_groups", add_group, methods=["POST"]),
        Route(one, group_state, methods=["GET"]),
        Route(one + "/resources", seed, methods=["POST"]),
        Route("/_sandbox/templates", templates, methods=["GET"]),
    ]
