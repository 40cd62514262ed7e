"""What a backend is: it reads a gateway group into resources, and turns a plan into the requests that apply it.

A backend never sends a write itself: ``requests`` returns phases of ``Write`` (the requests of one phase may run
together, phases run in order), so that ``relay rules test`` can show exactly the requests a live run sends, and
``worker.gitops.apply`` alone decides concurrency, journaling and stopping.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from worker.errors import GitOpsError, PermanentError
from worker.gitops.plan import Plan, ResourceChange
from worker.gitops.resources import GatewayResource
from worker.targets.caller import Caller
from worker.targets.envelopes import DEFAULT_PAGE_SIZE, ID_PATTERN, iter_list


@dataclass(frozen=True)
class Write:
    """One request of an apply, and the plan changes it carries out."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = field(default=None, repr=False)
    changes: tuple[ResourceChange, ...] = ()

    @property
    def key(self) -> str:
        """Names this exact write in the event's journal: the request and the digests of what it applies."""
        digests = ",".join(change.digest or "-" for change in self.changes)
        return f"{self.method} {self.path} {digests}"

    @property
    def description(self) -> str:
        """``PUT /apisix/admin/routes/<id> (update route billing/list)``."""
        what = ", ".join(f"{c.op} {c.resource.type} {c.resource.name}" for c in self.changes)
        return f"{self.method} {self.path}" + (f" ({what})" if what else "")


WritePhase = list[Write]


class Backend(Protocol):
    """One API7 generation's view of a gateway group."""

    name: str
    group_id: str

    def read(self, plugin_names: Iterable[str]) -> dict[str, GatewayResource]:
        """Every resource of the group by key; ``plugin_names``: the plugin metadata to look up."""
        ...

    def requests(self, plan: Plan, version: str) -> list[WritePhase]:
        """The writes that carry out ``plan``, in phases; ``version`` names a 3.2 publish."""
        ...


# Items read from one list at most: a gateway answering a growing ``total`` and full pages forever must not keep a
# reconcile reading (the plan's own limit is ``Limits.max_resources``; a group may hold more than Relay writes).
MAX_LIST_ITEMS = 50_000


def read_all(
    client: Caller, path: str, params: Mapping[str, Any] | None = None, *, page_size: int
) -> list[dict[str, Any]]:
    """Every item of a paged list, bounded by ``MAX_LIST_ITEMS``."""
    items: list[dict[str, Any]] = []
    for item in iter_list(client, path, params=params, page_size=page_size):
        items.append(item)
        if len(items) > MAX_LIST_ITEMS:
            raise GitOpsError(f"{client.name}: GET {path} lists more than {MAX_LIST_ITEMS} items; refusing to read on")
    return items


def resolve_group(client: Caller, name: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> str:
    """The id of the gateway group named exactly ``name`` (every page read; ``search`` is fuzzy, list[0] a guess)."""
    groups = read_all(client, "/api/gateway_groups", page_size=page_size)
    found = [item for item in groups if item.get("name") == name]
    if not found:
        raise GitOpsError(f"{client.name}: no gateway group is named {name!r}")
    if len(found) > 1:
        raise GitOpsError(f"{client.name}: {len(found)} gateway groups are named {name!r}; rename one")
    return checked_id(found[0].get("id"), "gateway group id")


def detect_version(client: Caller) -> str:
    """``3.5`` and later answer ``GET /api/version``; 3.2 has no such endpoint (404)."""
    try:
        result = client.call("GET", "/api/version")
    except PermanentError as exc:
        if exc.status_code == 404:
            return "3.2"
        raise
    value = result.body.get("value") if isinstance(result.body, dict) else None
    return "3.5" if not isinstance(value, str) or _at_least_35(value) else "3.2"


def _at_least_35(version: str) -> bool:
    parts = version.lstrip("v").split(".")
    try:
        return (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0) >= (3, 5)
    except ValueError:
        return True


def checked_id(value: Any, what: str) -> str:
    """An id from the gateway, checked before it goes into a path (a hostile answer must not name ``../x``)."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value) or len(value) > 256:
        raise GitOpsError(f"the gateway answered an invalid {what}: {str(value)[:80]!r}")
    return value


def labels_out(labels: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Labels as API7 stores them: strings (a list is JSON-encoded, as ADC sends it)."""
    if labels is None:
        return None
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in labels.items()}


def labels_in(labels: Any) -> dict[str, Any] | None:
    """Labels as the file writes them: a JSON-encoded list back to a list."""
    if not isinstance(labels, dict):
        return None
    result: dict[str, Any] = {}
    for key, value in labels.items():
        result[str(key)] = value
        if isinstance(value, str) and value.startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, list):
                result[str(key)] = parsed
    return result


def renamed(body: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``body`` with keys renamed (``description`` -> ``desc``), ``None`` values left out."""
    return {names.get(key, key): value for key, value in body.items() if value is not None}
