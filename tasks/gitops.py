"""Beat's drift job: ``relay.check_drift`` plans every synced group against its last applied revision, read-only,
and re-applies that revision where the group's sync action says ``self_heal: true``."""

from __future__ import annotations

import logging
import time
from typing import Any

from tasks.actions.sync import reconciler_for, render_sync, spec_with_version
from worker.celery_app import app
from worker.config import Settings, SyncAction
from worker.errors import RelayError
from worker.gitops.drift import check_drift
from worker.gitops.revisions import Revisions, groups
from worker.ops import stats
from worker.runtime import Runtime, get_runtime
from worker.store.locks import job_lock, release_quietly

CHECK_DRIFT = "relay.check_drift"

log = logging.getLogger("relay.tasks")


def sync_actions(settings: Settings) -> dict[tuple[str, str, str], SyncAction]:
    """The first sync action of the rules for each (target, gateway group, repository)."""
    found: dict[tuple[str, str, str], SyncAction] = {}
    for rule in settings.rules:
        for action in rule.do:
            if isinstance(action, SyncAction):
                found.setdefault((action.sync, action.gateway_group, action.repo), action)
    return found


def run_drift(runtime: Runtime) -> dict[str, Any]:
    """Check every synced group once, under the job lock; what each check found, by ``target/group``."""
    interval = runtime.settings.gitops.drift_interval_seconds or 300
    lock = job_lock(runtime.redis, "check_drift", max(interval, 60))
    if not lock.acquire():
        return {"skipped": "another drift check is running"}
    try:
        actions = sync_actions(runtime.settings)
        return {f"{target}/{group}": _check(runtime, actions, target, group) for target, group in groups(runtime.redis)}
    finally:
        release_quietly(lock)


def _check(runtime: Runtime, actions: dict[tuple[str, str, str], SyncAction], target: str, group: str) -> str:
    revisions = Revisions(runtime.redis, target, group)
    state = revisions.state()
    action = actions.get((target, group, state.repo or ""))
    if action is None or state.last_applied is None:
        return "no sync action for it"
    try:
        spec = spec_with_version(runtime.settings, render_sync(action, {}, revision=state.last_applied))
        reconciler = reconciler_for(runtime, target)
        drift = check_drift(reconciler, spec, revisions)
        if drift is None:
            return "busy: a reconcile runs"
        result = "drifted" if drift["changes"] else "in_sync"
        stats.record_drift(runtime.redis, target, group, result)
        if result == "drifted" and action.self_heal:
            outcome = reconciler.reconcile(spec, f"drift:{target}:{group}:{int(time.time())}", "drift")
            stats.record_reconcile(runtime.redis, target, group, outcome.outcome, outcome.summary)
            return f"drifted; self-healed: {outcome.outcome}"
        return result
    except RelayError as exc:
        stats.record_drift(runtime.redis, target, group, "error")
        log.warning("drift check of %s/%s failed: %s", target, group, exc)
        return f"error: {exc}"


@app.task(name=CHECK_DRIFT)
def check_drift_task() -> dict[str, Any]:
    """Beat's periodic drift check."""
    return run_drift(get_runtime())
