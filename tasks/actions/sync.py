"""The ``sync`` action kind: reconcile a target's API7 gateway group with a repository's revision (``worker.gitops``).

``plan`` renders the revision template; ``run`` reconciles (one reconcile per group at a time, newest revision wins,
each write journaled so that a rerun never resends one that took effect); ``preview`` is the dry run of
``relay rules test``: the plan and the exact requests a live run would send, secrets masked, nothing written.
"""

from __future__ import annotations

import os
from typing import Any

import redis

from tasks.actions.base import Runner, Step
from tasks.templates import render_text
from worker.config import Settings, SyncAction
from worker.errors import AuthError, GitOpsError, RelayError, RetryableError, RuleError
from worker.gitops.envvars import policy
from worker.gitops.reconcile import Reconciler, SyncSpec
from worker.gitops.source import CommitSource
from worker.ops import stats
from worker.repos.statuses import DESCRIPTION_MAX, SHA, CommitState, CommitStatus
from worker.runtime import Runtime, get_runtime
from worker.store.events import ActionResult
from worker.tokens.lifecycle import report_refused

DEFERRED_RETRY_SECONDS = 15.0  # a push that found its group's reconcile running checks again after this
MAX_SHOWN_FIELDS = 12  # field changes listed per resource in ``relay rules test``'s text


def render_sync(action: SyncAction, context: dict[str, Any], *, revision: str | None = None) -> SyncSpec:
    """The sync with its revision rendered (or the one given); raises ``RuleError``."""
    revision = (revision if revision is not None else render_text(action.revision, context)).strip()
    if not revision or any(ch.isspace() or ord(ch) < 32 for ch in revision) or len(revision) > 256:
        raise RuleError(f"revision {revision[:80]!r} is not a commit or ref name")
    return SyncSpec(
        target=action.sync,
        group=action.gateway_group,
        repo=action.repo,
        revision=revision,
        paths=tuple(action.paths),
        prune=action.prune,
        allow_empty=action.allow_empty,
        env=policy(action.env.allow, action.env.allow_prefix),
        max_in_flight=action.max_in_flight,
    )


def reconciler_for(runtime: Runtime, target: str) -> Reconciler:
    """The reconciler of ``target``, through its pooled client (token refresh, retries and errors shared)."""
    config = runtime.settings.targets[target]
    if config.kind != "api7":
        raise GitOpsError(f"target {target!r} is a {config.kind} target; sync needs an api7 target")
    return Reconciler(
        runtime.redis,
        runtime.client(target),
        commit_source(runtime),
        os.environ,
        lock_seconds=runtime.settings.celery.task_time_limit + 10,
        journal_seconds=runtime.settings.retention_seconds,
    )


def commit_source(runtime: Runtime) -> CommitSource:
    """The runtime's reader of repositories: one set on it (tests), else ``worker.repos``' (``Runtime.repos``)."""
    if runtime.commits is not None:
        return runtime.commits
    return runtime.repos


def outcome_line(spec: SyncSpec, outcome: str, changed: dict[str, int]) -> str:
    """One line for the commit: what the reconcile did to the group."""
    if outcome != "applied":
        return f"gateway group {spec.group}: {outcome}"
    counts = ", ".join(f"{changed.get(op, 0)} {op}" for op in ("create", "update", "delete"))
    return f"gateway group {spec.group}: applied ({counts})"


def report_commit(runtime: Runtime, spec: SyncSpec, event: str, state: CommitState, line: str) -> None:
    """Tell the repository's forge what Relay did with the commit; a failure to report never fails the event."""
    if not SHA.fullmatch(spec.revision):  # a branch or tag name: the status belongs to a commit id
        return
    public_url = runtime.settings.receiver.public_url
    story = f"{str(public_url).rstrip('/')}/status/events/{event}" if public_url and event else None
    status = CommitStatus(state, line.splitlines()[0][:DESCRIPTION_MAX], story, context=f"relay/{spec.group}")
    runtime.statuses.report(spec.repo, spec.revision, status)


def spec_with_version(settings: Settings, spec: SyncSpec) -> SyncSpec:
    """The spec with its target's configured API7 version."""
    version = settings.targets[spec.target].api7_version
    return SyncSpec(**{**spec.__dict__, "api7_version": version}) if version else spec


class SyncRunner(Runner[SyncAction, SyncSpec]):
    """Reconciles a gateway group; a refused token is reported to the token lifecycle at once."""

    kind = SyncAction.kind

    def plan(self, action: SyncAction, context: dict[str, Any]) -> SyncSpec:
        """Render the revision."""
        return render_sync(action, context)

    def run(self, runtime: Runtime, action: SyncAction, step: Step, context: dict[str, Any]) -> ActionResult:
        """Reconcile; the result keeps the revision, the outcome and every write made."""
        spec = spec_with_version(runtime.settings, render_sync(action, context))
        event = str((context.get("event") or {}).get("id", ""))
        report_commit(runtime, spec, event, CommitState.PENDING, f"reconciling gateway group {spec.group}")
        try:
            outcome = reconciler_for(runtime, action.sync).reconcile(spec, step.key, event)
        except AuthError as exc:
            token_name = runtime.settings.token_names[action.sync]
            report_refused(runtime.tokens, runtime.settings, token_name, exc, notifications=runtime.notifications)
            self._failed(runtime, spec, event, exc)
            raise
        except RelayError as exc:
            self._failed(runtime, spec, event, exc)
            raise
        changed = outcome.summary if outcome.outcome == "applied" else {}
        stats.record_reconcile(runtime.redis, action.sync, spec.group, outcome.outcome, changed)
        if not outcome.waiting:
            report_commit(runtime, spec, event, CommitState.SUCCESS, outcome_line(spec, outcome.outcome, changed))
        if outcome.waiting:
            # Left to the running reconcile, which takes it at its end; retried too, so that it is never stranded if
            # that reconcile fails first (the retry finds it applied, or older than what was, and does nothing).
            raise RetryableError(f"deferred: {outcome.reason}", retry_after=DEFERRED_RETRY_SECONDS)
        return step.result(action, status_code=None, detail=outcome.detail())

    @staticmethod
    def _failed(runtime: Runtime, spec: SyncSpec, event: str, exc: RelayError) -> None:
        stats.record_reconcile(runtime.redis, spec.target, spec.group, "failed", {})
        # A retry may still apply it: the commit stays pending until the event's last try fails.
        final = not isinstance(exc, RetryableError)
        state = CommitState.FAILURE if final else CommitState.PENDING
        report_commit(runtime, spec, event, state, f"{'failed' if final else 'retrying'}: {exc}")

    def templates(self, action: SyncAction) -> dict[str, Any]:
        """The revision."""
        return {"revision": action.revision}

    def preview(
        self, settings: Settings, action: SyncAction, request: SyncSpec, key: str, context: dict[str, Any]
    ) -> dict[str, Any]:
        """The plan and the requests a live run would send now; reads the repository and the gateway, writes nothing."""
        # The dry run reads what a run reads: the repository, the inventory in Redis, the gateway group.
        try:
            planned = reconciler_for(get_runtime(), action.sync).plan(spec_with_version(settings, request))
        except RelayError as exc:
            return {"revision": request.revision, "gateway_group": request.group, "error": str(exc)}
        except redis.RedisError as exc:  # the inventory is read from Redis: without it there is no faithful plan
            error = f"Redis unreachable ({type(exc).__name__}): the plan needs the group's inventory"
            return {"revision": request.revision, "gateway_group": request.group, "error": error}
        return planned.to_json()

    def report_lines(self, entry: dict[str, Any]) -> list[str]:
        """The revision and summary, then one line per change and its fields."""
        head = (
            f": {entry.get('repo', '')}@{str(entry.get('revision', ''))[:12]} -> group {entry.get('gateway_group')!r}"
        )
        if "error" in entry:
            return [head, f"      error: {entry['error']}"]
        summary = entry["summary"]
        counts = f"{summary['create']} create, {summary['update']} update, {summary['delete']} delete"
        lines = [f"{head} ({entry['backend']}): {counts}"]
        for change in entry["changes"]:
            lines.append(
                f"      {change['op']:<6} {change['type']} {change['name']}"
                + (f" ({change['reason']})" if change.get("reason") else "")
            )
            lines += [
                f"               {f['field']}: {f['old']!r} -> {f['new']!r}"
                for f in change["fields"][:MAX_SHOWN_FIELDS]
            ]
        lines += [f"      kept: {line}" for line in entry.get("kept", [])]
        lines += [f"      {r['method']} {r['path']}" for r in entry.get("requests", [])]
        return lines
