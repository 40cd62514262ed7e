"""What a reconcile fault run proves: the gateway group ends at the newest pushed revision, no write took effect
twice, no older revision was applied after a newer one, and nothing Relay does not own was touched.

Each check reads the sandbox, not Relay's own records: the group's state, the writes that changed it (each carries
the ``Idempotency-Key`` ``<event>:<rule>:<action>:<revision>:<write digest>``) and the request log's order.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import redis

from worker.devtools.chaos.report import reason_of, wait_final
from worker.devtools.chaos.resolve import replay_all
from worker.devtools.chaos.timeline import Pushes, Timeline
from worker.devtools.sandbox.runtime_kinds import digest
from worker.gitops.revisions import Revisions
from worker.store.events import EventStatus, EventStore

if TYPE_CHECKING:
    from worker.devtools.chaos.gateway_files import Expected

ADMIN = "/apisix/admin"
UPSTREAM = {"type": "roundrobin", "nodes": [{"host": "legacy.internal", "port": 80, "weight": 1}]}
OTHER_REPO = {"managed-by": "relay", "relay-repo": "other-config"}
# Made outside Relay, in the group Relay syncs: by hand, by ADC, and labelled as another repository's (kind, id, body,
# made_by). Relay must neither change nor delete any of them.
FOREIGN_SEEDS: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    ("services", "legacy", {"name": "legacy", "upstream": UPSTREAM}, "hand"),
    ("routes", "legacy-route", {"name": "legacy", "paths": ["/legacy"], "service_id": "legacy"}, "hand"),
    ("consumers", "adc_user", {"username": "adc_user"}, "adc"),
    ("consumers", "other-repo-bot", {"username": "other-repo-bot", "labels": OTHER_REPO}, "hand"),
)
# Kinds the workload's files never hold: Relay must have written none.
UNUSED_KINDS = ("ssls", "stream_routes", "plugin_metadata", "credentials")


@dataclass
class Foreign:
    """The resources seeded outside Relay, as the sandbox stored them (``kind/id`` -> value)."""

    sandbox: str
    group: str
    seeded: dict[str, dict[str, Any]]

    @classmethod
    def seed(cls, sandbox: str, group: str, kinds: frozenset[str]) -> Foreign:
        """Store the ``FOREIGN_SEEDS`` of these kinds in the group through the sandbox's control API."""
        seeded = {}
        for kind, ident, value, made_by in (seed for seed in FOREIGN_SEEDS if seed[0] in kinds):
            body = {"kind": kind, "id": ident, "value": value, "made_by": made_by}
            answer = httpx.post(f"{sandbox}/_sandbox/gateway_groups/{group}/resources", json=body, timeout=5)
            answer.raise_for_status()
            seeded[f"{kind}/{ident}"] = answer.json()
        return cls(sandbox, group, seeded)

    def touched(self, resources: dict[str, dict[str, Any]], written: dict[str, int]) -> list[str]:
        """The seeded resources changed, deleted or written to (even with an equal body) since they were seeded."""
        found = []
        for name, value in self.seeded.items():
            kind, ident = name.split("/", 1)
            now = resources.get(kind, {}).get(ident)
            if now != value:
                found.append(f"{name}: {'deleted' if now is None else 'changed'}")
            elif written.get(f"{ADMIN}/{name}"):
                found.append(f"{name}: written to")
        return found


@dataclass
class ReconcileReport:
    """The figures of one reconcile run; ``ok`` only when every check holds."""

    pushed: int
    posted: int
    acknowledged: int
    done: int
    dead_lettered: dict[str, int]
    replayed: int
    done_after_replay: int
    missing: list[str]
    outcomes: dict[str, int]
    newest: str
    last_applied: str | None
    state_differences: list[str]
    writes: int
    revisions_written: int  # revisions some of whose writes took effect (the others were skipped or superseded)
    duplicated_writes: dict[str, int]
    older_after_newer: list[str]
    broken_revision_writes: int  # writes of the broken revision that took effect: must be none
    broken_revision_errors: list[str]  # how its push's event failed (when it ran before a newer one was applied)
    foreign_touched: list[str]
    settled_after_last_fault_seconds: float | None
    faults: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the group holds the newest revision, nothing was lost, doubled, regressed or trespassed, and no
        event failed with an internal error."""
        return (
            not self.missing
            and self.last_applied == self.newest
            and not self.state_differences
            and not self.duplicated_writes
            and not self.older_after_newer
            and self.broken_revision_writes == 0
            and "internal error" not in self.dead_lettered  # always a bug: an exception nothing classified
            and not self.foreign_touched
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "missing_count": len(self.missing), "ok": self.ok}

    def lines(self) -> list[tuple[str, Any]]:
        """What ``relay chaos`` prints, label by label."""
        keys = (
            "pushed", "posted", "acknowledged", "done", "dead_lettered", "replayed", "done_after_replay", "outcomes",
            "writes", "revisions_written", "duplicated_writes", "older_after_newer", "broken_revision_writes",
            "broken_revision_errors", "foreign_touched",
        )  # fmt: skip
        data = self.to_json()
        return [
            *((key, data[key]) for key in keys),
            ("missing", len(self.missing)),
            ("newest pushed", self.newest[:12]),
            ("last applied", (self.last_applied or "")[:12]),
            ("state differences", self.state_differences or 0),
            ("settled after last fault (s)", self.settled_after_last_fault_seconds),
        ]


@dataclass(frozen=True)
class Known:
    """What the run knows apart from Relay: the newest revision's resources, the consumer key it fills, the seeds."""

    expected: Expected
    ci_key: str
    foreign: Foreign


def build_reconcile_report(
    redis_url: str, sandbox: str, timeline: Timeline, pushes: Pushes, known: Known, settle_timeout: float
) -> ReconcileReport:
    """Wait for every acknowledged push to end, replay the dead letters once, then check the sandbox."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    store = EventStore(client, retention_seconds=86400)
    acknowledged = {p.event_id for p in timeline.posted if p.event_id}
    finals = wait_final(store, acknowledged, settle_timeout)
    dead = {e for e, (status, _, _) in finals.items() if status == EventStatus.FAILED}
    reasons = Counter(reason_of(error) for e, (_, _, error) in finals.items() if e in dead)
    broken = [error for e, (_, _, error) in finals.items() if e in dead and pushes.by_event.get(e) == pushes.broken]
    replayed_at = time.time()
    replay_all(store, redis_url, dead)
    after = {**finals, **wait_final(store, dead, settle_timeout, settled_after=replayed_at)}
    last_fault = timeline.faults[-1][0] if timeline.faults else time.time()
    settled = max((at for _, at, _ in after.values()), default=last_fault)
    state = gateway_resources(httpx.get(f"{sandbox}/_sandbox/gateway_groups/{known.foreign.group}", timeout=10).json())
    by_path = _effects(sandbox, "path")["counts"]
    by_key = _effects(sandbox, "idempotency_key")
    records = httpx.get(f"{sandbox}/_sandbox/requests", params={"effect": "true"}, timeout=30).json()
    regressions, revisions_written = write_order(records, pushes.shas)
    return ReconcileReport(
        pushed=len(pushes.shas),
        posted=len(timeline.posted),
        acknowledged=len(acknowledged),
        done=sum(1 for status, _, _ in finals.values() if status == EventStatus.DONE),
        dead_lettered=dict(reasons),
        replayed=len(dead),
        done_after_replay=sum(1 for status, _, _ in after.values() if status == EventStatus.DONE),
        missing=sorted(acknowledged - set(after)),
        outcomes=dict(Counter(_outcome(store, event_id) for event_id in after)),
        newest=pushes.shas[-1] if pushes.shas else "",
        last_applied=Revisions(client, "gateway", known.foreign.group).state().last_applied,
        state_differences=differences(state, known.expected, set(known.foreign.seeded), known.ci_key),
        writes=int(by_key["total"]),
        duplicated_writes=dict(by_key["duplicates"]),
        older_after_newer=regressions,
        broken_revision_writes=writes_of(records, pushes.broken),
        broken_revision_errors=[error[:300] for error in broken],
        revisions_written=revisions_written,
        foreign_touched=known.foreign.touched(state, by_path),
        settled_after_last_fault_seconds=round(max(0.0, settled - last_fault), 2) if not acknowledged - set(after)
        else None,
        faults=[what for _, what in timeline.faults],
    )  # fmt: skip


def gateway_resources(group: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The group's resources by kind and id; API7 3.2's published services (and their routes) as services and routes."""
    resources: dict[str, dict[str, Any]] = dict(group["resources"])
    published = group.get("published") or {}
    if published:
        resources["services"] = {
            sid: {k: v for k, v in value.items() if k != "routes"} for sid, value in published.items()
        }
        resources["routes"] = {route["id"]: route for value in published.values() for route in value.get("routes", [])}
    return resources


def differences(state: dict[str, Any], expected: Expected, foreign: set[str], ci_key: str) -> list[str]:
    """How the group's resources Relay owns differ from what the newest revision says, one line each."""
    owned = {kind: {i: v for i, v in found.items() if f"{kind}/{i}" not in foreign} for kind, found in state.items()}
    wanted: dict[str, Any] = {
        "services": expected.services, "routes": expected.routes, "consumers": expected.consumers,
        "global_rules": expected.global_rules, "service_upstreams": expected.upstreams,
        **dict.fromkeys(UNUSED_KINDS, ()),
    }  # fmt: skip
    found = [line for kind, ids in wanted.items() for line in _ids(kind, owned.get(kind, {}), ids)]
    return found + _fields(owned, expected, ci_key)


def _fields(owned: dict[str, dict[str, Any]], expected: Expected, ci_key: str) -> list[str]:
    services, routes = owned.get("services", {}), owned.get("routes", {})
    found = []
    for ident, port in expected.services.items():
        ports = [node.get("port") for node in services.get(ident, {}).get("upstream", {}).get("nodes", [])]
        if ident in services and ports != [port]:
            found.append(f"service {ident}: upstream ports {ports}, the file says [{port}]")
    for ident, wanted in expected.routes.items():
        now = routes.get(ident)
        if now is not None and _route_fields(now) != wanted:
            found.append(f"route {ident}: {_route_fields(now)}, the file says {wanted}")
    upstreams = owned.get("service_upstreams", {})
    for key, port in expected.upstreams.items():
        ports = [node.get("port") for node in upstreams.get(key, {}).get("nodes", [])]
        if key in upstreams and ports != [port]:
            found.append(f"upstream {key}: ports {ports}, the file says [{port}]")
    ci_bot = owned.get("consumers", {}).get("ci-bot")
    if ci_bot is not None and ci_bot.get("plugins", {}).get("key-auth", {}).get("key") != digest(ci_key):
        found.append("consumer ci-bot: its key is not the one the environment gives")
    return found


def write_order(records: list[dict[str, Any]], shas: list[str]) -> tuple[list[str], int]:
    """Writes of a revision that took effect after a write of a newer one (in the request log ``records``), and how
    many revisions had writes take effect."""
    order = {sha: n for n, sha in enumerate(shas)}
    found, newest, written = [], -1, set()
    for record in sorted(records, key=lambda r: r["time"]):
        parts = (record.get("idempotency_key") or "").split(":")
        number = order.get(parts[-2]) if len(parts) >= 2 else None
        if number is None:
            continue
        written.add(number)
        if number < newest:
            found.append(f"{record['method']} {record['path']} of revision {number} after revision {newest}")
        newest = max(newest, number)
    return found, len(written)


def writes_of(records: list[dict[str, Any]], revision: str | None) -> int:
    """How many writes of ``revision`` took effect (in the request log ``records``)."""
    keys = [(record.get("idempotency_key") or "").split(":") for record in records]
    return sum(1 for parts in keys if revision and len(parts) >= 2 and parts[-2] == revision)


def _route_fields(route: dict[str, Any]) -> tuple[Any, Any, Any]:
    limit = route.get("plugins", {}).get("limit-count", {}).get("count")
    return route.get("paths"), route.get("methods"), limit


def _ids(kind: str, found: dict[str, Any], wanted: Any) -> list[str]:
    extra, missing = sorted(set(found) - set(wanted)), sorted(set(wanted) - set(found))
    return [f"{kind}: {label} {ids}" for label, ids in (("not in the file", extra), ("missing", missing)) if ids]


def _effects(sandbox: str, by: str) -> dict[str, Any]:
    answer = httpx.get(f"{sandbox}/_sandbox/effects", params={"by": by}, timeout=30)
    answer.raise_for_status()
    data: dict[str, Any] = answer.json()
    return data


def _outcome(store: EventStore, event_id: str) -> str:
    record = store.get(event_id)
    if record.status != EventStatus.DONE or not record.actions:
        return str(record.status)
    return str(record.actions[0].detail.get("outcome", "?"))
