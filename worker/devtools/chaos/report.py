"""What a fault run proves: every acknowledged event accounted for, and no effect applied twice."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import redis

from worker.devtools.chaos.resolve import replay_unknown
from worker.devtools.chaos.timeline import Timeline
from worker.errors import StoreError
from worker.store.events import FINAL_STATUSES, EventStatus, EventStore
from worker.waiting import poll


@dataclass
class Report:
    """The figures of one run; ``ok`` only when nothing is missing and nothing was done twice."""

    posted: int
    acknowledged: int
    done: int
    dead_lettered: dict[str, int]
    replayed_unknown: dict[str, int]
    done_after_replay: int
    missing: list[str]
    duplicated_effects: dict[str, int]
    longest_wait_seconds: float
    settled_after_last_fault_seconds: float | None
    faults: list[str] = field(default_factory=list)
    rotations: dict[str, list[str]] = field(default_factory=dict)  # token -> each rotation's outcome
    tokens_lost: list[str] = field(default_factory=list)  # tokens whose stored secret the sandbox refuses
    failed_calls_after_settle: int = 0  # calls of deliveries posted once all settled that failed or never came

    @property
    def ok(self) -> bool:
        """True when nothing is missing, nothing done twice, no token lost and no call fails once settled."""
        return (
            not self.missing
            and not self.duplicated_effects
            and not self.tokens_lost
            and self.failed_calls_after_settle == 0
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "missing_count": len(self.missing), "ok": self.ok}

    def lines(self) -> list[tuple[str, Any]]:
        """What ``relay chaos`` prints, label by label."""
        data = self.to_json()
        keys = ("posted", "acknowledged", "done", "dead_lettered", "replayed_unknown", "done_after_replay")
        return [
            *((key, data[key]) for key in (*keys, "missing_count", "duplicated_effects")),
            ("longest wait (s)", self.longest_wait_seconds),
            ("settled after last fault (s)", self.settled_after_last_fault_seconds),
            *((f"rotations of {name}", ", ".join(kinds)) for name, kinds in self.rotations.items()),
            ("tokens lost", self.tokens_lost or 0),
            ("failed calls after settling", self.failed_calls_after_settle),
        ]


def build_report(redis_url: str, sandbox: str, timeline: Timeline, settle_timeout: float) -> Report:
    """Wait until every acknowledged event is final (or the timeout), then count."""
    acknowledged = {p.event_id: p.at for p in timeline.posted if p.event_id}
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    store = EventStore(client, retention_seconds=86400)
    last_fault = timeline.faults[-1][0] if timeline.faults else time.time()
    finals = wait_final(store, set(acknowledged), settle_timeout)
    settled = max((record[1] for record in finals.values()), default=last_fault)
    dead = Counter(reason_of(error) for status, _, error in finals.values() if status == EventStatus.FAILED)
    # Then as an operator: resolve the unknown outcomes, replay them, and see every one finish.
    replayed_at = time.time()
    replayed, replayed_ids = replay_unknown(store, sandbox, redis_url)
    after = {**finals, **wait_final(store, replayed_ids, settle_timeout, settled_after=replayed_at)}
    effects = _effects(sandbox)
    return Report(
        posted=len(timeline.posted),
        acknowledged=len(acknowledged),
        done=sum(1 for status, _, _ in finals.values() if status == EventStatus.DONE),
        dead_lettered=dict(dead),
        replayed_unknown=replayed,
        done_after_replay=sum(
            1
            for e, (status, at, _) in after.items()
            if status == EventStatus.DONE and (e not in replayed_ids or at > replayed_at)
        ),
        missing=sorted(set(acknowledged) - set(finals)),
        duplicated_effects={event_id: n for event_id, n in effects.items() if n > 1},
        longest_wait_seconds=round(
            max((finals[e][1] - at for e, at in acknowledged.items() if e in finals), default=0), 2
        ),
        settled_after_last_fault_seconds=(
            round(max(0.0, settled - last_fault), 2) if len(finals) == len(acknowledged) else None
        ),
        faults=[what for _, what in timeline.faults],
    )


def wait_final(
    store: EventStore, ids: set[str], timeout: float, *, settled_after: float = 0.0
) -> dict[str, tuple[EventStatus, float, str]]:
    """``id -> (status, updated_at, error)`` of the events final within ``timeout``, updated after ``settled_after``."""
    finals: dict[str, tuple[EventStatus, float, str]] = {}

    def all_final() -> bool:
        for event_id in ids - set(finals):
            try:
                record = store.get(event_id)
            except StoreError:
                continue
            if record.status in FINAL_STATUSES and record.updated_at > settled_after:
                finals[event_id] = (record.status, record.updated_at, record.error or "")
        return len(finals) == len(ids)

    poll(all_final, timeout=timeout, interval=0.5)
    return finals


def _effects(sandbox: str) -> Counter[str]:
    """Writes that took effect at the sandbox, per event (Relay's Idempotency-Key starts with the event id)."""
    answer = httpx.get(f"{sandbox}/_sandbox/effects", params={"by": "idempotency_key"}, timeout=30)
    answer.raise_for_status()
    counts: Counter[str] = Counter()
    for key, n in answer.json().get("counts", {}).items():
        counts[key.split(":", 1)[0]] += int(n)
    return counts


def reason_of(error: str) -> str:
    """A dead letter's reason, short enough to count by."""
    # "rule 'create' action 0: outcome unknown: check ..." -> "outcome unknown"; keeps the table short.
    text = error.split(": ", 1)[1] if error.startswith("rule ") else error
    return text.split(":", 1)[0][:80] or "no reason"
