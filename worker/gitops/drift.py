"""Drift: plan a group against the revision last applied to it, read-only, and record what differs.

Run by beat (``relay.check_drift``, every ``gitops.drift_interval_seconds``; off unless set). A group whose reconcile
is running is left for the next check, as its plan would show the reconcile's own half-done writes.
"""

from __future__ import annotations

import time
from typing import Any

from worker.gitops.reconcile import Reconciler, SyncSpec
from worker.gitops.revisions import Revisions
from worker.store.locks import release_quietly

MAX_NAMED = 20  # drifted resources named in the record; the rest are counted


def check_drift(reconciler: Reconciler, spec: SyncSpec, revisions: Revisions) -> dict[str, Any] | None:
    """What differs from the last applied revision (recorded on the group), or None when not checked now."""
    applied = revisions.state().last_applied
    if not applied:
        return None
    lock = revisions.lock(reconciler.lock_seconds)
    if not lock.acquire():
        return None
    try:
        planned = reconciler.plan(spec.at(applied))
    finally:
        release_quietly(lock)
    changes = planned.plan.changes
    drift = {
        "revision": applied,
        "changes": len(changes),
        "summary": planned.plan.summary(),
        "resources": [f"{c.op} {c.resource.type} {c.resource.name}" for c in changes[:MAX_NAMED]],
        "checked_at": time.time(),
    }
    revisions.set_drift(drift)
    return drift
