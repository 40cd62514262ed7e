"""One resource of a gateway group as a reconcile sees it, on either side: its type, id, parent and body.

A body is ADC-shaped (``description``, ``uris``...) without its id and without its children, which are resources of
their own: a service's routes, stream routes and named upstreams, a consumer's credentials. The backends translate
bodies to and from each API7 generation's shape.

Order (ADC's ``differv4.ts``, with Argo CD's "prune last"): creates and updates parent-first, then deletes
child-first, after every create and update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ResourceType = Literal[
    "ssl", "service", "upstream", "route", "stream_route", "consumer", "credential", "global_rule", "plugin_metadata"
]
WRITE_ORDER: tuple[ResourceType, ...] = (
    "ssl", "service", "upstream", "route", "stream_route", "consumer", "credential", "global_rule", "plugin_metadata",
)  # fmt: skip
DELETE_ORDER: tuple[ResourceType, ...] = (
    "credential", "route", "stream_route", "upstream", "service", "consumer", "ssl", "global_rule", "plugin_metadata",
)  # fmt: skip
# Types whose parent must exist first: the parent's type.
PARENT_TYPE: dict[str, ResourceType] = {
    "route": "service", "stream_route": "service", "upstream": "service", "credential": "consumer",
}  # fmt: skip
# Types API7 keeps labels on (global rules and plugin metadata have none: the inventory alone says they are Relay's).
LABELLED: frozenset[str] = frozenset({"ssl", "service", "upstream", "route", "stream_route", "consumer", "credential"})
OWNER_LABEL = "managed-by"
OWNER = "relay"
REPO_LABEL = "relay-repo"


@dataclass(frozen=True)
class GatewayResource:
    """One resource: ``name`` is what people read (``billing/list-invoices``), ``parent`` its parent's id."""

    type: ResourceType
    id: str
    name: str
    body: dict[str, Any] = field(repr=False)
    parent: str | None = None

    @property
    def key(self) -> str:
        """Unique within a gateway group: ``route:<id>``, ``credential:<username>/<id>``."""
        return f"{self.type}:{self.parent}/{self.id}" if self.parent is not None else f"{self.type}:{self.id}"

    @property
    def labels(self) -> dict[str, Any]:
        """The resource's labels (empty when it has none)."""
        labels = self.body.get("labels")
        return labels if isinstance(labels, dict) else {}


def owned_by(resource: GatewayResource, repo: str) -> bool:
    """Whether the resource's labels say Relay wrote it from ``repo`` (a type without labels: always True)."""
    if resource.type not in LABELLED:
        return True
    labels = resource.labels
    return labels.get(OWNER_LABEL) == OWNER and labels.get(REPO_LABEL) == repo
