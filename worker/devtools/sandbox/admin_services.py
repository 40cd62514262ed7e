"""Gateway groups, services and publishing operations of the admin API."""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from worker.devtools.sandbox.catalog import GatewayGroup, PublishedService, Service, name_matches
from worker.devtools.sandbox.runtime import TEMPLATES
from worker.devtools.sandbox.runtime_kinds import ROUTE_TEMPLATES
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

SERVICES = "/apisix/admin/services"
GROUPS = "/api/gateway_groups"


def _service_answer(service: Service) -> JSONResponse:
    # APISIX-style routes also answer the etcd key of the resource.
    return JSONResponse(value_envelope(service.public(), key=f"/apisix/services/{service.id}"))


def _published_list(records: list[PublishedService], query: QueryParams) -> JSONResponse:
    q = parse_list_query(query, order_fields=("created_at", "updated_at", "publish_time"), default_order="updated_at")
    runtime_type = query.get("runtime_type")
    if runtime_type not in (None, "normal", "canary"):
        raise bad_request("runtime_type must be normal or canary")
    if runtime_type == "canary":
        records = []  # the sandbox runs no canary releases
    total, page = paginate(records, q, lambda p, s: name_matches(p.config, p.service_id, s))
    return JSONResponse(list_envelope(total, [p.public() for p in page]))


def _time_filter(query: QueryParams, name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise bad_request(f"{name} must be a non-negative integer")
    return int(raw)


def group_routes(state: SandboxState) -> list[BaseRoute]:
    """Return the gateway group routes (both generations).

    `search` is a fuzzy match on name and id, as API7's: a client that takes `list[0]` of `search=prod` may get
    "prod-eu" (the newest first) rather than "prod". Match the name exactly.
    """
    catalog = state.catalog

    async def list_groups(request: Request) -> JSONResponse:
        q = parse_list_query(
            request.query_params, order_fields=("created_at", "updated_at"), default_order="updated_at"
        )
        groups: list[GatewayGroup] = list(catalog.gateway_groups.values())
        total, page = paginate(groups, q, lambda g, s: s in g.name.lower() or s in g.id.lower())
        return JSONResponse(list_envelope(total, [g.public() for g in page]))

    async def get_group(request: Request) -> JSONResponse:
        return JSONResponse(value_envelope(catalog.gateway_group(path_id(request, "gateway_group_id")).public()))

    return [
        Route(GROUPS, list_groups, methods=["GET"]),
        Route(GROUPS + "/{gateway_group_id}", get_group, methods=["GET"]),
    ]


def service_routes(state: SandboxState) -> list[BaseRoute]:
    """Return 3.2's service template and publish routes."""
    catalog = state.catalog

    async def create_service(request: Request) -> JSONResponse:
        return _service_answer(catalog.create_service(await read_object(request)))

    async def list_services(request: Request) -> JSONResponse:
        query = request.query_params
        q = parse_list_query(
            query, order_fields=("created_at", "updated_at", "last_published"), default_order="updated_at"
        )
        services = list(catalog.services.values())
        group_id = query.get("gateway_group_id")
        if group_id is not None:
            if not ID_PATTERN.fullmatch(group_id):
                raise bad_request("invalid gateway_group_id")
            catalog.gateway_group(group_id)
            services = [s for s in services if group_id in catalog.groups_with(s.id)]
        start = _time_filter(query, "last_publish_start_at")
        end = _time_filter(query, "last_publish_end_at")
        if start is not None:
            services = [s for s in services if s.last_published and s.last_published >= start]
        if end is not None:
            services = [s for s in services if s.last_published and s.last_published <= end]
        total, page = paginate(services, q, lambda s, term: name_matches(s.config, s.id, term))
        return JSONResponse(list_envelope(total, [s.public() for s in page]))

    async def get_service(request: Request) -> JSONResponse:
        return _service_answer(catalog.service(path_id(request, "service_id")))

    async def put_service(request: Request) -> JSONResponse:
        service_id = path_id(request, "service_id")
        return _service_answer(catalog.put_service(service_id, await read_object(request)))

    async def patch_service(request: Request) -> JSONResponse:
        service_id = path_id(request, "service_id")
        dry_run = request.query_params.get("dry-run")
        if dry_run not in (None, "all"):
            raise bad_request("dry-run must be all")
        catalog.service(service_id)
        patched = catalog.patch_service(service_id, await read_object(request), dry_run=dry_run == "all")
        return _service_answer(patched)

    async def delete_service(request: Request) -> JSONResponse:
        return _service_answer(catalog.delete_service(path_id(request, "service_id")))

    async def publish(request: Request) -> JSONResponse:
        group, published = catalog.publish(await read_object(request))
        templates = state.runtime.items(TEMPLATES, ROUTE_TEMPLATES)
        for item in published:
            # What the gateway group now runs: the service's routes as they are at publish time.
            item.routes = [r.public() for r in templates if r.config.get("service_id") == item.service_id]
        value = {"gateway_group_id": group.id, "services": [p.public() for p in published]}
        return JSONResponse(value_envelope(value))

    async def list_published(request: Request) -> JSONResponse:
        group_id = path_id(request, "gateway_group_id")
        return _published_list(catalog.published_in(group_id), request.query_params)

    async def get_published(request: Request) -> JSONResponse:
        group_id, service_id = path_id(request, "gateway_group_id"), path_id(request, "service_id")
        return JSONResponse(value_envelope(catalog.published_service(group_id, service_id).public()))

    async def unpublish(request: Request) -> JSONResponse:
        group_id, service_id = path_id(request, "gateway_group_id"), path_id(request, "service_id")
        return JSONResponse(value_envelope(catalog.unpublish(group_id, service_id).public()))

    async def where_published(request: Request) -> JSONResponse:
        return _published_list(catalog.published_of(path_id(request, "service_id")), request.query_params)

    group = GROUPS + "/{gateway_group_id}"
    service = SERVICES + "/{service_id}"
    return [
        Route(group + "/services", list_published, methods=["GET"]),
        Route(group + "/services/{service_id}", get_published, methods=["GET"]),
        Route(group + "/services/{service_id}", unpublish, methods=["DELETE"]),
        Route(SERVICES, create_service, methods=["POST"]),
        Route(SERVICES, list_services, methods=["GET"]),
        Route(service, get_service, methods=["GET"]),
        Route(service, put_service, methods=["PUT"]),
        Route(service, patch_service, methods=["PATCH"]),
        Route(service, delete_service, methods=["DELETE"]),
        Route("/api/services/publish", publish, methods=["POST"]),
        Route("/api/services/{service_id}/published_services", where_published, methods=["GET"]),
    ]
