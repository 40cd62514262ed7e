"""API7 3.5+'s runtime resources per gateway group, as ADC's api7ee backend uses them.

Every call names its gateway group with `?gateway_group_id=` (api7/a7 `docs/api7ee-api-spec.md`: "All runtime
resources require gateway_group_id"). Lists answer `{"total": N, "list": [...]}` paged by `page` (from 1) and
`page_size`, filtered by `search` (fuzzy) and ADC's label selector `labels[<key>]=<value>`; one resource answers
`{"value": {...}}`; `PUT .../{id}` creates or replaces; `DELETE .../{id}` answers what it deleted. Route and stream
route lists take `service_id=` too, and a route list asked with an access token (every admin call here) must give
it (api7/a7 5f4b007: "API7 EE requires service_id when listing routes with access tokens"). A service's named
upstreams live under it (`services/{id}/upstreams`): its list shows the service's inline upstream too, under the
service's id; deleting the service deletes them. There is no stand-alone `/apisix/admin/upstreams`: like any path
API7 does not serve, it answers 404 (see `runtime_kinds`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.catalog import Catalog
from worker.devtools.sandbox.effects import stored
from worker.devtools.sandbox.middleware import auth_of
from worker.devtools.sandbox.runtime import IN_A_SERVICE, Resource, RuntimeStore
from worker.devtools.sandbox.runtime_defaults import core_schema
from worker.devtools.sandbox.runtime_kinds import CREDENTIALS, KINDS, SERVICE_UPSTREAMS, Kind
from worker.devtools.sandbox.state import SandboxState
from worker.devtools.sandbox.web import (
    ID_PATTERN,
    bad_request,
    list_envelope,
    paginate,
    parse_list_query,
    path_id,
    read_object,
    value_envelope,
)

ADMIN = "/apisix/admin"
GROUP_PARAM = "gateway_group_id"
Handler = Callable[[Request], Any]


def group_of(request: Request, catalog: Catalog, *, required: bool = True) -> str | None:
    """Return the checked `gateway_group_id` of a request: 400 when missing or malformed, 404 when unknown.

    The wording of the 400 is the sandbox's (inferred: API7 documents the parameter as required, not its error).
    """
    group_id = request.query_params.get(GROUP_PARAM)
    if group_id is None or group_id == "":
        if required:
            raise bad_request(f"{GROUP_PARAM} is required")
        return None
    if not ID_PATTERN.fullmatch(group_id):
        raise bad_request(f"invalid {GROUP_PARAM}: {group_id!r}")
    return catalog.gateway_group(group_id).id


def label_filter(query: QueryParams) -> dict[str, str]:
    """Return ADC's label selector (`labels[team]=pay`) as a dict."""
    selector = {}
    for name in query:
        if name.startswith("labels[") and name.endswith("]") and len(name) > len("labels[]"):
            selector[name[len("labels[") : -1]] = query[name]
    return selector


def in_service(resources: list[Resource], query: QueryParams) -> list[Resource]:
    """Keep the routes of the service `service_id=` names, when it is given.

    3.2's description lists it for `GET /apisix/admin/routes`; ADC's api7ee fetcher lists 3.5's routes and stream
    routes per service with it and takes the answer as that service's.
    """
    service_id = query.get("service_id")
    if service_id is None:
        return resources
    return [r for r in resources if r.config.get("service_id") == service_id]


def require_service_id(request: Request, kind: Kind) -> None:
    """Refuse a 3.5 route list asked with an access token without `service_id`.

    Only where the evidence says so: api7/a7 5f4b007, "API7 EE requires service_id when listing routes with access
    tokens" (routes, not stream routes; the sandbox has no caller but access tokens, the rule still names its
    condition). The 400 and its wording are inferred, as for `gateway_group_id`.
    """
    if kind.name == "routes" and not request.query_params.get("service_id") and auth_of(request).token is not None:
        raise bad_request("service_id is required")


def list_answer(resources: list[Resource], query: QueryParams, default_page_size: int | None = None) -> JSONResponse:
    """Answer a list: label selector, fuzzy search, order, one page (`default_page_size` when none is asked)."""
    q = parse_list_query(query, order_fields=("created_at", "updated_at"), default_order="updated_at")
    if q.page_size is None and default_page_size is not None:
        q = replace(q, page_size=default_page_size)
    selector = label_filter(query)
    if selector:
        resources = [r for r in resources if all(r.config.get("labels", {}).get(k) == v for k, v in selector.items())]
    total, page = paginate(resources, q, lambda r, search: r.matches(search))
    return JSONResponse(list_envelope(total, [r.public() for r in page]))


def kind_routes(state: SandboxState, kind: Kind) -> list[BaseRoute]:
    """Return list, get, put and delete of one kind under /apisix/admin/<kind>."""
    store: RuntimeStore = state.runtime
    catalog = state.catalog

    def group(request: Request) -> str:
        found = group_of(request, catalog)
        assert found is not None
        return found

    async def list_all(request: Request) -> JSONResponse:
        found = store.items(group(request), kind)
        require_service_id(request, kind)
        if kind.name in IN_A_SERVICE:
            found = in_service(found, request.query_params)
        return list_answer(found, request.query_params, state.default_page_size)

    async def get_one(request: Request) -> JSONResponse:
        return JSONResponse(value_envelope(store.get(group(request), kind, path_id(request, "id")).public()))

    async def put_one(request: Request) -> JSONResponse:
        group_id, ident = group(request), path_id(request, "id")
        resource = stored(request.scope, store.put(group_id, kind, ident, await read_object(request)))
        return JSONResponse(value_envelope(resource.public()))

    async def delete_one(request: Request) -> JSONResponse:
        return JSONResponse(value_envelope(store.delete(group(request), kind, path_id(request, "id")).public()))

    base = f"{ADMIN}/{kind.name}"
    one = base + "/{id}"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(one, get_one, methods=["GET"]),
        Route(one, put_one, methods=["PUT"]),
        Route(one, delete_one, methods=["DELETE"]),
    ]


def metadata_list_route(state: SandboxState) -> Route:
    """Return `GET /apisix/admin/plugin_metadata`: every plugin's metadata at once, as ADC's fetcher reads it."""

    async def all_metadata(request: Request) -> JSONResponse:
        group_id = group_of(request, state.catalog)
        assert group_id is not None
        stored = state.runtime.items(group_id, KINDS["plugin_metadata"])
        return JSONResponse(value_envelope({r.id: r.kind.public(r.config) for r in stored}))

    return Route(f"{ADMIN}/plugin_metadata", all_metadata, methods=["GET"])


def child_routes(state: SandboxState, owner: Kind, param: str, kind: Kind, segment: str) -> list[BaseRoute]:
    """Return the resources held by another: /apisix/admin/<owner>/{<param>}/<segment>[/{id}].

    A consumer's credentials (`consumers/{username}/credentials`) and, from 3.5, a service's named upstreams
    (`services/{service_id}/upstreams`, ADC's api7ee `fetcher.ts` and `operator.ts`): an unknown owner is a 404.
    """
    store = state.runtime

    def where(request: Request) -> tuple[str, str]:
        group_id = group_of(request, state.catalog)
        assert group_id is not None
        parent = path_id(request, param)
        store.get(group_id, owner, parent)
        return group_id, parent

    async def list_all(request: Request) -> JSONResponse:
        group_id, parent = where(request)
        return list_answer(store.listed(group_id, kind, parent), request.query_params, state.default_page_size)

    async def get_one(request: Request) -> JSONResponse:
        group_id, parent = where(request)
        return JSONResponse(value_envelope(store.get(group_id, kind, path_id(request, "id"), parent).public()))

    async def put_one(request: Request) -> JSONResponse:
        group_id, parent = where(request)
        body = await read_object(request)
        resource = stored(request.scope, store.put(group_id, kind, path_id(request, "id"), body, parent))
        return JSONResponse(value_envelope(resource.public()))

    async def delete_one(request: Request) -> JSONResponse:
        group_id, parent = where(request)
        gone = store.delete(group_id, kind, path_id(request, "id"), parent)
        return JSONResponse(value_envelope(gone.public()))

    base = f"{ADMIN}/{owner.name}/{{{param}}}/{segment}"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base + "/{id}", get_one, methods=["GET"]),
        Route(base + "/{id}", put_one, methods=["PUT"]),
        Route(base + "/{id}", delete_one, methods=["DELETE"]),
    ]


def version_route(state: SandboxState) -> Route:
    """Return `GET /api/version` (3.5 and later; 3.2 has no such route and answers 404)."""

    async def version(request: Request) -> JSONResponse:
        return JSONResponse({"value": state.api7_version})

    return Route("/api/version", version, methods=["GET"])


async def _core_schema(request: Request) -> JSONResponse:
    return JSONResponse({"value": core_schema()})


def runtime_routes(state: SandboxState) -> list[BaseRoute]:
    """Return every route of API7 3.5+'s runtime admin API, with `GET /api/schema/core` (the defaults it adds)."""
    routes: list[BaseRoute] = [
        version_route(state),
        Route("/api/schema/core", _core_schema, methods=["GET"]),
        metadata_list_route(state),
        *child_routes(state, KINDS["consumers"], "username", CREDENTIALS, "credentials"),
        *child_routes(state, KINDS["services"], "service_id", SERVICE_UPSTREAMS, "upstreams"),
    ]
    for kind in KINDS.values():
        routes.extend(kind_routes(state, kind))
    return routes
