"""One reconcile: read the commit, read the gateway group, plan, apply, record; newest revision wins.

``Reconciler.plan`` is read-only (``relay rules test``, ``relay gitops plan`` and the drift check use it);
``Reconciler.reconcile`` holds the group's lock, skips a revision older than the last applied one (or than a newer one
left half-applied), applies, and then takes the revision that arrived meanwhile (if newer) before letting go.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.lock import Lock

from worker.errors import GitOpsError, RelayError, RetryableError
from worker.gitops.apply import Applier, ApplyReport
from worker.gitops.backends import Backend, WritePhase, open_backend
from worker.gitops.desired import DesiredState, load_desired
from worker.gitops.envvars import EnvPolicy, Filler
from worker.gitops.inventory import Entry, Inventory
from worker.gitops.journal import Journal
from worker.gitops.limits import DEFAULT_LIMITS, Limits
from worker.gitops.paths import check_pattern
from worker.gitops.plan import Plan, PlanInput, build_plan
from worker.gitops.revisions import GroupState, Pending, Revisions
from worker.gitops.source import CommitContent, CommitSource
from worker.gitops.writeonly import redact_sensitive
from worker.redaction import Secrets
from worker.store.locks import release_quietly
from worker.targets.caller import Caller
from worker.targets.envelopes import DEFAULT_PAGE_SIZE
from worker.tokens.keys import TOKEN_KEY_ENV

# Revisions one reconcile takes over from later pushes (within one task time limit); the deferred events themselves
# retry too, so a revision is never stranded when the running reconcile fails or stops taking them.
MAX_PENDING_RUNS = 2
MAX_LISTED_WRITES = 200  # writes named on the event's result


@dataclass(frozen=True)
class SyncSpec:
    """What to reconcile: a repository's revision onto a target's gateway group."""

    target: str
    group: str
    repo: str
    revision: str
    paths: tuple[str, ...]
    prune: bool = False
    allow_empty: bool = False
    env: EnvPolicy = field(default_factory=EnvPolicy)
    api7_version: str | None = None
    max_in_flight: int = 4

    def at(self, revision: str) -> SyncSpec:
        """The same sync at another revision."""
        return SyncSpec(**{**self.__dict__, "revision": revision})


@dataclass
class Planned:
    """A plan and the requests that carry it out, with what must be masked when shown."""

    spec: SyncSpec
    sha: str
    backend: Backend
    desired: DesiredState
    plan: Plan
    phases: list[WritePhase]

    def to_json(self) -> dict[str, Any]:
        """As shown and stored: write-only values hidden, filled-in variables masked."""
        requests = [
            {"method": w.method, "path": w.path, "params": w.params, "json": redact_sensitive(w.body)}
            for phase in self.phases
            for w in phase
        ]
        shown = {
            "target": self.spec.target, "gateway_group": self.spec.group, "repo": self.spec.repo,
            "revision": self.sha, "backend": self.backend.name, "files": self.desired.files,
            **self.plan.to_json(self.desired.secrets), "requests": requests,
        }  # fmt: skip
        masked: dict[str, Any] = Secrets(self.desired.secrets).redact_value(shown)
        return masked


@dataclass
class Outcome:
    """What a reconcile did: ``applied``, ``unchanged``, ``skipped`` (older revision), ``deferred`` (lock held: left to
    the running reconcile, its event retries) or ``superseded`` (lock held, and a newer revision already waits)."""

    outcome: str
    revision: str
    reason: str | None = None
    waiting: bool = False  # deferred: this revision is the group's pending one, and its event should retry
    summary: dict[str, int] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    skipped_writes: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def detail(self) -> dict[str, Any]:
        """What the event's action result keeps."""
        detail: dict[str, Any] = {"outcome": self.outcome, "revision": self.revision, "summary": self.summary}
        if self.reason:
            detail["reason"] = self.reason
        detail["writes"] = self.writes[:MAX_LISTED_WRITES]
        if self.skipped_writes:
            detail["already_done"] = self.skipped_writes[:MAX_LISTED_WRITES]
        if len(self.runs) > 1:
            detail["runs"] = self.runs
        return detail


@dataclass
class Reconciler:
    """Plans and applies syncs for one target, through its client."""

    redis: redis.Redis
    client: Caller
    commits: CommitSource
    environ: Mapping[str, str]
    limits: Limits = DEFAULT_LIMITS
    lock_seconds: float = 300
    journal_seconds: int = 7 * 86400
    page_size: int = DEFAULT_PAGE_SIZE  # items asked per page of every list read

    def read_commit(self, spec: SyncSpec) -> CommitContent:
        """The files of the spec's revision that its paths match."""
        try:
            for pattern in spec.paths:
                check_pattern(pattern)
            return self.commits.read_files(spec.repo, spec.revision, list(spec.paths))
        except ValueError as exc:  # a revision that is no commit id or ref, a pattern leaving the repository
            raise GitOpsError(f"repository {spec.repo}: {exc}") from None

    def plan(self, spec: SyncSpec, commit: CommitContent | None = None) -> Planned:
        """Read the commit and the gateway group, and plan; nothing is written (but the group's digest key)."""
        commit = commit or self.read_commit(spec)
        desired = load_desired(commit.files, repo=spec.repo, filler=Filler(spec.env, self.environ), limits=self.limits)
        inventory = Inventory(self.redis, spec.target, spec.group)
        entries = inventory.entries()
        backend = open_backend(self.client, spec.group, spec.api7_version, page_size=self.page_size)
        names = {r.id for r in desired.resources.values() if r.type == "plugin_metadata"}
        names |= {e.id for e in entries.values() if e.type == "plugin_metadata"}
        current = backend.read(names)
        key = digest_key(inventory.salt(), self.environ.get(TOKEN_KEY_ENV))
        given = PlanInput(desired, current, entries, spec.repo, key, spec.prune, spec.allow_empty)
        plan = build_plan(given)
        return Planned(spec, commit.sha, backend, desired, plan, backend.requests(plan, _version(commit.sha, plan)))

    def reconcile(self, spec: SyncSpec, step: str, event: str) -> Outcome:
        """Reconcile ``spec`` unless another reconcile of the group runs (then leave it the revision).

        Redis failing meanwhile (a restart) is transient: the rerun re-reads the gateway and settles what was sent.
        """
        try:
            return self._reconcile(spec, step, event)
        except redis.RedisError as exc:
            raise RetryableError(f"Redis failed during the reconcile ({type(exc).__name__}); retried") from None

    def _reconcile(self, spec: SyncSpec, step: str, event: str) -> Outcome:
        revisions = Revisions(self.redis, spec.target, spec.group)
        lock = revisions.lock(self.lock_seconds)
        if not lock.acquire():
            offered = revisions.offer(Pending(spec.revision, spec.repo, event), self._newer_for(spec.repo))
            reason = "another reconcile of this group runs; it will apply this revision at its end"
            if not offered:
                return Outcome("superseded", spec.revision, "a newer revision already waits for the running reconcile")
            return Outcome("deferred", spec.revision, reason, waiting=True)
        try:
            return self._reconcile_newest(spec, step, revisions)
        finally:
            _release(lock)

    def _reconcile_newest(self, spec: SyncSpec, step: str, revisions: Revisions) -> Outcome:
        outcome = self._once(spec, step, revisions)
        runs = [outcome.detail()]
        for _ in range(MAX_PENDING_RUNS):
            pending = revisions.take()
            if pending is None or pending.repo != spec.repo:
                break
            if not self._newer(spec.repo, pending.revision, outcome.revision):
                continue
            try:
                outcome = self._once(spec.at(pending.revision), step, revisions)
            except RelayError as exc:
                # That revision's own event, waiting to retry, meets and reports its failure; this one's stands.
                runs.append({"outcome": "failed", "revision": pending.revision, "reason": _short(str(exc))})
                break
            runs.append(outcome.detail())
        outcome.runs = runs
        return outcome

    def _once(self, spec: SyncSpec, step: str, revisions: Revisions) -> Outcome:
        commit = self.read_commit(spec)
        sha = commit.sha
        superseded = self._superseded(spec.repo, sha, revisions.state())
        if superseded is not None:
            return Outcome("skipped", sha, superseded)
        revisions.attempted(sha, spec.repo)
        try:
            planned = self.plan(spec, commit)
        except Exception as exc:
            revisions.finished(sha, "failed", {}, _short(str(exc)))
            raise
        summary = planned.plan.summary()
        try:
            report = self._apply(planned, f"{step}:{sha}")
        except Exception as exc:
            revisions.finished(sha, "failed", summary, _short(str(exc)))
            raise
        outcome = "applied" if report.applied or report.skipped else "unchanged"
        revisions.finished(sha, "applied", summary)
        return Outcome(outcome, sha, summary=summary, writes=report.applied, skipped_writes=report.skipped)

    def _apply(self, planned: Planned, step: str) -> ApplyReport:
        spec = planned.spec
        inventory = Inventory(self.redis, spec.target, spec.group)
        for resource, digest in planned.plan.adopt:
            inventory.record(Entry.of(resource, spec.repo, digest))
        for key in planned.plan.forget:
            inventory.forget(key)
        journal = Journal(self.redis, step, self.journal_seconds)
        applier = Applier(
            self.client, journal, inventory, spec.repo, max_in_flight=spec.max_in_flight,
            secrets=frozenset(planned.desired.secrets),
        )  # fmt: skip
        return applier.apply(planned.phases)

    def _superseded(self, repo: str, sha: str, state: GroupState) -> str | None:
        """Why ``sha`` must not be applied: it is older than the last applied revision, or than a newer one whose
        reconcile started and did not finish (some of its writes may be on the gateway; its event retries it)."""
        applied, attempted = state.last_applied, state.last_attempted
        if applied and sha != applied and self.commits.is_ancestor(repo, sha, applied):
            return f"{sha[:12]} is older than the last applied revision {applied[:12]}"
        if attempted and attempted != applied and state.repo == repo and self._older(repo, sha, attempted):
            return f"{sha[:12]} is older than {attempted[:12]}, whose reconcile started and did not finish"
        return None

    def _older(self, repo: str, sha: str, than: str) -> bool:
        """``sha`` is an ancestor of ``than``; one the reader cannot compare is not."""
        try:
            return sha != than and self.commits.is_ancestor(repo, sha, than)
        except (RelayError, ValueError):
            return False

    def _newer_for(self, repo: str) -> Callable[[str, str], bool]:
        return lambda candidate, than: self._newer(repo, candidate, than)

    def _newer(self, repo: str, candidate: str, than: str) -> bool:
        """``candidate`` is neither ``than`` nor an ancestor of it; one the reader cannot compare counts as newer."""
        if candidate == than:
            return False
        try:
            return not self.commits.is_ancestor(repo, candidate, than)
        except (RelayError, ValueError):
            return True  # a ref, or a commit not fetched yet: the run that reads it decides


def digest_key(salt: bytes, token_key: str | None) -> bytes:
    """The key of the write-only digests: the group's salt, keyed with ``RELAY_TOKEN_KEY`` when it is set, so that
    what Redis holds is not enough to test a guess of a weak key (rotating that key re-sends write-only values once).
    """
    if not token_key:
        return salt
    return hmac.new(token_key.encode("utf-8"), b"relay-gitops-digest:" + salt, hashlib.sha256).digest()


def _version(sha: str, plan: Plan) -> str:
    # A 3.2 publish names a version: the revision and a digest of what it publishes, the same on every rerun.
    writes = "|".join(change.write_key for change in plan.changes)
    return f"relay-{sha[:12]}-{hashlib.sha256(writes.encode()).hexdigest()[:8]}"


def _release(lock: Lock) -> None:
    release_quietly(lock)


def _short(text: str) -> str:
    return text if len(text) <= 500 else text[:497] + "..."


def specs_paths(paths: Sequence[str]) -> tuple[str, ...]:
    """``paths`` checked to stay inside the repository."""
    return tuple(check_pattern(path) for path in paths)
