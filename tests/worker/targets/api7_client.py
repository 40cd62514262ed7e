"""A typed client of the API7 operations rules make (gateway groups, services, publish), for the tests.

The worker sends rule calls through ``TargetClient`` as configured; this helper lets tests drive the same
operations against the sandbox and check them against API7's description (``api7/admin-api.json``).

Envelopes and paging are in ``envelopes``, token endpoints in ``api7_tokens``; errors (``error_msg`` or
``message``) and authentication (``X-API-KEY`` header or cookie) are handled by ``TargetClient``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from worker.targets.api7_tokens import Api7Tokens
from worker.targets.caller import Caller
from worker.targets.envelopes import DEFAULT_PAGE_SIZE, iter_list, object_id, unwrap_value

GATEWAY_GROUPS = "/api/gateway_groups"
SERVICES = "/apisix/admin/services"
PUBLISH = "/api/services/publish"


class Api7Client:
    """The API7 admin API operations Relay makes, over one target's pooled ``TargetClient``."""

    def __init__(self, client: Caller, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.client = client
        self.page_size = page_size
        self.tokens = Api7Tokens(client, page_size=page_size)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.client!r}>"

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET one resource and unwrap its ``value``."""
        result = self.client.call("GET", path, params=params or None)
        return unwrap_value(result.body, where=f"{self.client.name}: GET {path}")

    def list_all(self, path: str, *, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, across pages."""
        return iter_list(self.client, path, params=params, page_size=self.page_size)

    def write(self, method: str, path: str, body: Any, *, idempotency_key: str | None = None) -> dict[str, Any]:
        """POST/PUT/PATCH/DELETE and unwrap the ``value`` of the answer."""
        result = self.client.call(method, path, json=body, idempotency_key=idempotency_key)
        return unwrap_value(result.body, where=f"{self.client.name}: {method} {path}")

    def gateway_groups(self, *, search: str | None = None) -> Iterator[dict[str, Any]]:
        """Every gateway group (``GET /api/gateway_groups``)."""
        return self.list_all(GATEWAY_GROUPS, params=_search(search))

    def gateway_group(self, gateway_group_id: str) -> dict[str, Any]:
        """One gateway group."""
        return self.get(f"{GATEWAY_GROUPS}/{object_id(gateway_group_id, what='gateway_group_id')}")

    def published_services(self, gateway_group_id: str) -> Iterator[dict[str, Any]]:
        """The services published to a gateway group."""
        return self.list_all(f"{GATEWAY_GROUPS}/{object_id(gateway_group_id, what='gateway_group_id')}/services")

    def services(self, *, gateway_group_id: str | None = None, search: str | None = None) -> Iterator[dict[str, Any]]:
        """Every service (template), optionally only those published to a gateway group."""
        params = _search(search)
        if gateway_group_id is not None:
            params["gateway_group_id"] = object_id(gateway_group_id, what="gateway_group_id")
        return self.list_all(SERVICES, params=params)

    def service(self, service_id: str) -> dict[str, Any]:
        """One service."""
        return self.get(f"{SERVICES}/{object_id(service_id, what='service_id')}")

    def create_service(self, config: Mapping[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Create a service from its configuration (``name`` required) and return it with its id."""
        return self.write("POST", SERVICES, dict(config), idempotency_key=idempotency_key)

    def publish(
        self,
        gateway_group_id: str,
        services: Sequence[Mapping[str, Any]],
        *,
        create_new_version: bool | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Publish service versions to a gateway group (``POST /api/services/publish``).

        Each item holds ``service_id`` and ``version`` and, as the description requires, the service's
        configuration (at least ``upstream``).
        """
        if not services:
            raise ValueError("publish needs at least one service")
        body: dict[str, Any] = {
            "gateway_group_id": object_id(gateway_group_id, what="gateway_group_id"),
            "services": [dict(item) for item in services],
        }
        if create_new_version is not None:
            body["create_new_version"] = create_new_version
        return self.write("POST", PUBLISH, body, idempotency_key=idempotency_key)


def _search(search: str | None) -> dict[str, Any]:
    return {"search": search} if search else {}
