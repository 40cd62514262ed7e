"""API7 3.2's route templates and per-gateway-group resources, as `admin-api.json` describes them.

- Routes are templates like services: `/apisix/admin/routes[/{route_id}]`, no gateway group; a route's
  `service_id`, when given, must name a service template.
- Consumers and SSLs: listing needs `gateway_group_id`; `GET`/`DELETE` of one take only the id, and `PUT` takes
  the group as an optional parameter, so an id names one resource across groups (inferred from the description).
- Global rules and plugin metadata: `gateway_group_id` required on every operation; plugin metadata has only
  `GET` and `PUT` of one plugin.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.admin_runtime import ADMIN, group_of, in_service, list_answer
from worker.devtools.sandbox.effects import stored
from worker.devtools.sandbox.runtime import TEMPLATES
from worker.devtools.sandbox.runtime_kinds import KINDS, ROUTE_TEMPLATES, SSLS_V32, Kind
from worker.devtools.sandbox.state import SandboxState
from worker.devtools.sandbox.web import ID_PATTERN, bad_request, not_found, path_id, read_object, value_envelope

BY_ID_ALONE = ("consumers", "ssls")


def route_template_routes(state: SandboxState) -> list[BaseRoute]:
    """Return 3.2's route template operations."""
    store, catalog = state.runtime, state.catalog

    def answer(resource_id: str, value: dict[str, object]) -> JSONResponse:
        return JSONResponse(value_envelope(value, key=f"/apisix/routes/{resource_id}"))

    async def list_all(request: Request) -> JSONResponse:
        routes = in_service(store.items(TEMPLATES, ROUTE_TEMPLATES), request.query_params)
        return list_answer(routes, request.query_params, state.default_page_size)

    async def get_one(request: Request) -> JSONResponse:
        ident = path_id(request, "route_id")
        return answer(ident, store.get(TEMPLATES, ROUTE_TEMPLATES, ident).public())

    async def put_one(request: Request) -> JSONResponse:
        ident, body = path_id(request, "route_id"), await read_object(request)
        service_id = body.get("service_id")
        if isinstance(service_id, str) and service_id and service_id not in catalog.services:
            raise bad_request(f"service not found: {service_id}")
        resource = stored(request.scope, store.put(TEMPLATES, ROUTE_TEMPLATES, ident, body))
        return answer(ident, resource.public())

    async def delete_one(request: Request) -> JSONResponse:
        ident = path_id(request, "route_id")
        return answer(ident, store.delete(TEMPLATES, ROUTE_TEMPLATES, ident).public())

    one = ADMIN + "/routes/{route_id}"
    return [
        Route(ADMIN + "/routes", list_all, methods=["GET"]),
        Route(one, get_one, methods=["GET"]),
        Route(one, put_one, methods=["PUT"]),
        Route(one, delete_one, methods=["DELETE"]),
    ]


def group_kind_routes(state: SandboxState, kind: Kind, param: str) -> list[BaseRoute]:
    """Return list, get, put and delete of consumers, SSLs or global rules per gateway group."""
    store, catalog = state.runtime, state.catalog
    by_id_alone = kind.name in BY_ID_ALONE

    def group(request: Request, ident: str, *, creating: bool = False) -> str:
        given = group_of(request, catalog, required=not by_id_alone)
        if given is not None:
            return given
        holder = store.find(kind, ident)
        if holder is None:
            if creating:
                raise bad_request("gateway_group_id is required to create one")
            raise not_found(kind.label, ident)
        return holder

    async def list_all(request: Request) -> JSONResponse:
        group_id = group_of(request, catalog)
        assert group_id is not None
        return list_answer(store.items(group_id, kind), request.query_params, state.default_page_size)

    async def get_one(request: Request) -> JSONResponse:
        ident = path_id(request, param)
        return JSONResponse(value_envelope(store.get(group(request, ident), kind, ident).public()))

    async def put_one(request: Request) -> JSONResponse:
        ident = path_id(request, param)
        group_id = group(request, ident, creating=True)
        holder = store.find(kind, ident)
        if by_id_alone and holder not in (None, group_id):
            raise bad_request(f"{kind.label} {ident} exists in another gateway group")
        resource = stored(request.scope, store.put(group_id, kind, ident, await read_object(request)))
        return JSONResponse(value_envelope(resource.public()))

    async def delete_one(request: Request) -> JSONResponse:
        ident = path_id(request, param)
        return JSONResponse(value_envelope(store.delete(group(request, ident), kind, ident).public()))

    base = f"{ADMIN}/{kind.name}"
    one = base + "/{" + param + "}"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(one, get_one, methods=["GET"]),
        Route(one, put_one, methods=["PUT"]),
        Route(one, delete_one, methods=["DELETE"]),
    ]


def metadata_routes(state: SandboxState) -> list[BaseRoute]:
    """Return 3.2's plugin metadata: `GET` and `PUT` of one plugin's, per gateway group."""
    kind = KINDS["plugin_metadata"]

    def where(request: Request) -> tuple[str, str]:
        group_id = group_of(request, state.catalog)
        assert group_id is not None
        name = path_id(request, "plugin_name")
        if not ID_PATTERN.fullmatch(name):
            raise bad_request("invalid plugin_name")
        return group_id, name

    async def get_one(request: Request) -> JSONResponse:
        group_id, name = where(request)
        return JSONResponse(value_envelope(state.runtime.get(group_id, kind, name).public()))

    async def put_one(request: Request) -> JSONResponse:
        group_id, name = where(request)
        resource = stored(request.scope, state.runtime.put(group_id, kind, name, await read_object(request)))
        return JSONResponse(value_envelope(resource.public()))

    one = ADMIN + "/plugin_metadata/{plugin_name}"
    return [Route(one, get_one, methods=["GET"]), Route(one, put_one, methods=["PUT"])]


def v32_routes(state: SandboxState) -> list[BaseRoute]:
    """Return 3.2's routes, consumers, SSLs, global rules and plugin metadata (services are in admin_services)."""
    return [
        *route_template_routes(state),
        *group_kind_routes(state, KINDS["consumers"], "consumer_id"),
        *group_kind_routes(state, SSLS_V32, "ssl_id"),
        *group_kind_routes(state, KINDS["global_rules"], "global_rule_id"),
        *metadata_routes(state),
    ]
