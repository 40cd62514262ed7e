"""The plan: what to create, update and delete so that the gateway group holds the desired state.

Both sides are reduced to what the file can express (``normalize``), write-only values are left out and compared
through the digest Relay keeps of what it applied (``inventory``), and a resource is compared field by field
(plugins one by one; children are resources of their own). Deletes happen only with ``prune``, and only of
resources in the inventory, written from this repository, whose labels still say so, and whose children are all
being deleted too (a cascade must not take a hand-made route with it). A plan that would leave the group empty is
refused unless ``allow_empty``. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from worker.errors import PlanRefused
from worker.gitops.desired import DesiredState
from worker.gitops.diff import ABSENT, FieldChange, field_changes
from worker.gitops.inventory import PENDING, Entry
from worker.gitops.normalize import reduce
from worker.gitops.resources import DELETE_ORDER, PARENT_TYPE, WRITE_ORDER, GatewayResource, owned_by
from worker.gitops.writeonly import (
    HIDDEN,
    MASK,
    digest,
    hide,
    redact_sensitive,
    secret_values,
    sensitive_path,
    strip,
)  # fmt: skip
from worker.redaction import Secrets

Op = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class ResourceChange:
    """One write: ``resource`` is the file's (create, update) or the gateway's (delete); ``digest`` what is applied."""

    op: Op
    resource: GatewayResource
    fields: tuple[FieldChange, ...] = ()
    reason: str | None = None
    digest: str | None = None

    @property
    def write_key(self) -> str:
        """Names this exact write (op, resource, body digest) in the event's journal."""
        return f"{self.op}:{self.resource.key}:{self.digest or '-'}"


@dataclass
class Plan:
    """The changes in the order they are applied, and what is adopted, forgotten or deliberately left alone."""

    changes: list[ResourceChange] = field(default_factory=list)
    adopt: list[tuple[GatewayResource, str]] = field(default_factory=list)  # equal already: recorded, not written
    forget: list[str] = field(default_factory=list)  # inventory entries whose resource is gone
    kept: list[str] = field(default_factory=list)  # why a resource that could have been deleted was not

    @property
    def empty(self) -> bool:
        """True when nothing would be written."""
        return not self.changes

    def summary(self) -> dict[str, int]:
        """How many creates, updates and deletes."""
        counts = {"create": 0, "update": 0, "delete": 0}
        for change in self.changes:
            counts[change.op] += 1
        return counts

    def to_json(self, secrets: Iterable[str] = ()) -> dict[str, Any]:
        """The plan as shown and stored: write-only values hidden, every value in ``secrets`` masked."""
        shown = {
            "summary": self.summary(),
            "changes": [_change_json(change) for change in self.changes],
            "kept": list(self.kept),
        }
        masked_plan: dict[str, Any] = Secrets(secrets).redact_value(shown)
        return masked_plan


@dataclass(frozen=True)
class PlanInput:
    """What a plan is computed from."""

    desired: DesiredState
    current: Mapping[str, GatewayResource]
    inventory: Mapping[str, Entry]
    repo: str
    salt: bytes
    prune: bool = False
    allow_empty: bool = False


def build_plan(given: PlanInput) -> Plan:
    """Compare the desired state with the gateway's; ``PlanRefused`` when it would empty the group."""
    plan = Plan()
    writes = [_compare(given, resource, plan) for resource in given.desired.resources.values()]
    ordered = sorted((c for c in writes if c is not None), key=lambda c: WRITE_ORDER.index(c.resource.type))
    deletes = _deletes(given, plan) if given.prune else []
    if not given.prune:
        plan.kept += [
            f"{entry.name} ({entry.type}): no longer in the files; prune is off"
            for key, entry in given.inventory.items()
            if entry.repo == given.repo and key not in given.desired.resources and key in given.current
        ]
    plan.changes = ordered + deletes
    _refuse_empty(given, plan)
    return plan


def _compare(given: PlanInput, resource: GatewayResource, plan: Plan) -> ResourceChange | None:
    wanted = digest(resource, given.salt)
    current = given.current.get(resource.key)
    if current is None:
        return ResourceChange("create", resource, _shown_fields({}, resource), digest=wanted)
    public = strip(resource.type, resource.body)
    changes = field_changes(reduce(resource.type, strip(current.type, current.body), public), public)
    applied = given.inventory.get(resource.key)
    if applied is not None and applied.digest == PENDING:
        applied = None  # claimed, but what was applied is not known
    if changes:
        return ResourceChange("update", resource, tuple(changes), digest=wanted)
    if applied is not None and applied.digest == wanted:
        return None
    if applied is None and not secret_values(resource.type, resource.body):
        plan.adopt.append((resource, wanted))  # equal already, and nothing hidden that could differ
        return None
    # Equal as far as the gateway shows, but not what Relay last applied: a removed key or a write-only value.
    strict = field_changes(reduce(resource.type, strip(current.type, current.body), public, strict=True), public)
    if applied is not None and strict:
        return ResourceChange(
            "update", resource, tuple(strict), reason="removed from the file since applied", digest=wanted
        )
    reason = "write-only value changed" if applied is not None else "write-only value not known to match"
    return ResourceChange(
        "update", resource, (FieldChange("(write-only)", HIDDEN, HIDDEN),), reason=reason, digest=wanted
    )


def _deletes(given: PlanInput, plan: Plan) -> list[ResourceChange]:
    candidates: dict[str, GatewayResource] = {}
    for key, entry in given.inventory.items():
        if entry.repo != given.repo or key in given.desired.resources:
            continue
        current = given.current.get(key)
        if current is None:
            plan.forget.append(key)
        elif not owned_by(current, given.repo):
            plan.kept.append(f"{current.name} ({current.type}): its labels no longer say {given.repo!r} owns it")
        else:
            candidates[key] = current
    for key, resource in list(candidates.items()):
        blocker = _unowned_child(resource, given.current, candidates)
        if blocker is not None:
            plan.kept.append(f"{resource.name} ({resource.type}): holds {blocker}, which Relay does not delete")
            del candidates[key]
    ordered = sorted(candidates.values(), key=lambda r: DELETE_ORDER.index(r.type))
    return [ResourceChange("delete", resource, reason="pruned: not in this revision") for resource in ordered]


def _unowned_child(
    parent: GatewayResource, current: Mapping[str, GatewayResource], deleting: Mapping[str, GatewayResource]
) -> str | None:
    for key, child in current.items():
        if PARENT_TYPE.get(child.type) == parent.type and child.parent == parent.id and key not in deleting:
            return f"{child.type.replace('_', ' ')} {child.name}"
    return None


def _refuse_empty(given: PlanInput, plan: Plan) -> None:
    if given.allow_empty:
        return
    if not given.desired.resources:
        raise PlanRefused("the files define no resources (an empty or unreadable tree); set allow_empty: true")
    remaining = set(given.current) | set(given.desired.resources)
    remaining -= {change.resource.key for change in plan.changes if change.op == "delete"}
    if not remaining:
        raise PlanRefused("the plan would leave the gateway group empty; set allow_empty: true")


def _shown_fields(old: dict[str, Any], resource: GatewayResource) -> tuple[FieldChange, ...]:
    return tuple(field_changes(old, hide(resource.type, resource.body)))


def _field_json(item: FieldChange) -> dict[str, Any]:
    shown = item.to_json()
    if sensitive_path(item.path):
        shown.update({side: MASK for side in ("old", "new") if shown[side] != ABSENT})
    else:
        shown.update({side: redact_sensitive(shown[side]) for side in ("old", "new")})
    return shown


def _change_json(change: ResourceChange) -> dict[str, Any]:
    resource = change.resource
    shown: dict[str, Any] = {
        "op": change.op,
        "type": resource.type,
        "id": resource.id,
        "name": resource.name,
        "fields": [_field_json(item) for item in change.fields],
    }
    if resource.parent is not None:
        shown["parent"] = resource.parent
    if change.reason:
        shown["reason"] = change.reason
    return shown
