"""Revisions per target and gateway group: one reconcile at a time, the newest commit wins, and what was tried.

The lock (``relay:gitops:lock:<tg>``) lets one reconcile of a group run at a time. An event that finds it held
leaves its revision as the group's pending revision (newest wins: an older one never replaces a newer) and finishes;
the running reconcile takes the pending revision at its end and reconciles it too. As in Flux, the last attempted
revision is recorded apart from the last applied one (set only after a full success), with a short history.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis
from redis.lock import Lock

from worker.gitops import keys
from worker.store.locks import EventLock


@dataclass(frozen=True)
class Pending:
    """A revision waiting for the running reconcile."""

    revision: str
    repo: str
    event: str


@dataclass(frozen=True)
class GroupState:
    """What is recorded of a group."""

    last_attempted: str | None = None
    last_applied: str | None = None
    repo: str | None = None
    outcome: str | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    drift: dict[str, Any] | None = None
    updated_at: float | None = None


class Revisions:
    """The revision records of one target and gateway group."""

    def __init__(self, client: redis.Redis, target: str, group: str) -> None:
        self.client = client
        self.target = target
        self.group = group
        self.scope = keys.scope(target, group)

    def lock(self, seconds: float) -> Lock:
        """The group's reconcile lock (taken over from a holder whose worker died)."""
        return EventLock(self.client, keys.LOCK + self.scope, timeout=seconds, blocking=False, thread_local=False)

    def state(self) -> GroupState:
        """The group's record (empty when never reconciled)."""
        raw = {str(_text(k)): str(_text(v)) for k, v in self.client.hgetall(keys.STATE + self.scope).items()}
        return GroupState(
            last_attempted=raw.get("last_attempted") or None,
            last_applied=raw.get("last_applied") or None,
            repo=raw.get("repo") or None,
            outcome=raw.get("outcome") or None,
            summary=_json(raw.get("summary")),
            error=raw.get("error") or None,
            drift=_json(raw.get("drift")),
            updated_at=float(raw["updated_at"]) if raw.get("updated_at") else None,
        )

    def attempted(self, revision: str, repo: str) -> None:
        """A reconcile of ``revision`` starts."""
        self._set({"last_attempted": revision, "repo": repo, "outcome": "running", "error": ""})
        self.client.sadd(keys.GROUPS, self.scope)

    def finished(self, revision: str, outcome: str, summary: dict[str, Any], error: str | None = None) -> None:
        """A reconcile ended; ``applied`` also moves the last applied revision."""
        fields: dict[str, str] = {"outcome": outcome, "summary": json.dumps(summary), "error": error or ""}
        if outcome == "applied":
            fields["last_applied"] = revision
        self._set(fields)
        entry = {"revision": revision, "outcome": outcome, "summary": summary, "error": error, "at": time.time()}
        with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(keys.HISTORY + self.scope, json.dumps(entry))
            pipe.ltrim(keys.HISTORY + self.scope, 0, keys.HISTORY_LENGTH - 1)
            pipe.execute()

    def set_drift(self, drift: dict[str, Any]) -> None:
        """What the last drift check found."""
        self._set({"drift": json.dumps(drift)})

    def history(self) -> list[dict[str, Any]]:
        """The last reconciles, newest first."""
        found = []
        for raw in self.client.lrange(keys.HISTORY + self.scope, 0, -1):
            entry = _json(_text(raw))
            if entry is not None:
                found.append(entry)
        return found

    def offer(self, pending: Pending, newer: Callable[[str, str], bool]) -> bool:
        """Leave ``pending`` for the running reconcile unless a newer one waits; ``newer(a, b)``: a is newer."""
        current = self.peek()
        if current is not None and current.repo == pending.repo and not newer(pending.revision, current.revision):
            return False
        self.client.set(keys.PENDING + self.scope, json.dumps(asdict(pending)))
        return True

    def peek(self) -> Pending | None:
        """The pending revision, if any."""
        return _pending(self.client.get(keys.PENDING + self.scope))

    def take(self) -> Pending | None:
        """The pending revision, removed."""
        return _pending(self.client.getdel(keys.PENDING + self.scope))

    def _set(self, fields: dict[str, str]) -> None:
        fields["updated_at"] = repr(time.time())
        self.client.hset(keys.STATE + self.scope, mapping=fields)  # type: ignore[arg-type]


def groups(client: redis.Redis) -> list[tuple[str, str]]:
    """Every (target, group) ever reconciled."""
    found = []
    for member in client.smembers(keys.GROUPS):
        target, _, group = str(_text(member)).partition(":")
        found.append((target, group))
    return sorted(found)


def _pending(raw: Any) -> Pending | None:
    data = _json(_text(raw))
    if not isinstance(data, dict):
        return None
    try:
        return Pending(**data)
    except TypeError:  # a record of another shape: nothing waits that can be trusted
        return None


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
