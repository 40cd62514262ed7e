"""Applying a plan's writes: phase by phase, a bounded number in flight, each journaled, stopping at a failure.

Phases come from the backend in order (parents first, deletes last and child-first, each global rule alone); the
writes of one phase run together on at most ``max_in_flight`` threads sharing the target's pooled client. A failed
write lets the others of its phase finish (they are already sent), then stops the run with what was and was not
applied; the error keeps its class, so a transient failure is retried by the event and a rerun resumes.

A rerun skips what the journal has ``done``, and settles what it has ``sent`` (no answer came) against the re-plan:
a write whose every field the re-read shows equal took effect and is not sent again. One that holds a write-only
value (an SSL key, a consumer key) cannot be seen on the gateway, so it is sent again: a PUT by id of the same body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from worker.errors import AuthError, RetryableError, TargetError
from worker.gitops.backends.base import Write, WritePhase
from worker.gitops.inventory import PENDING, Entry, Inventory
from worker.gitops.journal import Journal
from worker.gitops.writeonly import secret_values
from worker.redaction import Secrets
from worker.targets.caller import Caller

MAX_LISTED = 10  # writes named in a failure's message; the rest are counted


@dataclass
class ApplyReport:
    """What an apply did: writes sent and answered, writes skipped as already done, writes not made."""

    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)


@dataclass
class Applier:
    """Sends writes through a target's client, journaling each and recording what Relay now owns."""

    client: Caller
    journal: Journal
    inventory: Inventory
    repo: str
    max_in_flight: int = 4
    observe: Callable[[Write], None] | None = None  # told of each write that took effect
    secrets: frozenset[str] = frozenset()  # masked in a failure's message (a gateway may echo what it was sent)

    def apply(self, phases: Sequence[WritePhase]) -> ApplyReport:
        """Send every phase in order; raises the first failure's class with the report in its message."""
        report = ApplyReport()
        for number, phase in enumerate(phases):
            todo = [write for write in phase if not self._already_done(write, report)]
            failures = self._run_phase(todo, report)
            if failures:
                later = [write.description for rest in phases[number + 1 :] for write in rest]
                report.not_applied += [w.description for w in todo if w.description not in report.applied] + later
                raise _failure(failures[0], report, self.secrets)
        return report

    def _already_done(self, write: Write, report: ApplyReport) -> bool:
        state = self.journal.state(write.key)
        if state is None or (state == "sent" and not _landed(write)):
            return False
        self._record(write)  # idempotent: the inventory may have missed it if the run died right after
        report.skipped.append(write.description)
        return True

    def _run_phase(self, todo: list[Write], report: ApplyReport) -> list[tuple[Write, TargetError]]:
        if not todo:
            return []
        failures: list[tuple[Write, TargetError]] = []
        workers = max(1, min(self.max_in_flight, len(todo)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="relay-gitops") as pool:
            for write, error in zip(todo, pool.map(self._send, todo), strict=True):
                if error is None:
                    report.applied.append(write.description)
                else:
                    failures.append((write, error))
        return failures

    def _send(self, write: Write) -> TargetError | None:
        for change in write.changes:
            if change.op != "delete":
                self.inventory.claim(Entry.of(change.resource, self.repo, PENDING))
        self.journal.sent(write.key)
        try:
            self.client.call(
                write.method,
                write.path,
                params=write.params or None,
                json=write.body,
                idempotency_key=self.journal.idempotency_key(write.key),
            )
        except TargetError as exc:
            return exc
        self._record(write)
        self.journal.done(write.key)
        if self.observe is not None:
            self.observe(write)
        return None

    def _record(self, write: Write) -> None:
        for change in write.changes:
            if change.op == "delete":
                self.inventory.forget(change.resource.key)
            elif change.digest is not None:
                self.inventory.record(Entry.of(change.resource, self.repo, change.digest))


def _landed(write: Write) -> bool:
    """Whether a write sent with no answer took effect, as the re-read shows: the re-plan found the gateway equal
    to it in every field it shows (``reason`` set), and it holds no write-only value the gateway could hide."""
    return bool(write.changes) and all(
        change.op != "delete"
        and change.reason is not None
        and not secret_values(change.resource.type, change.resource.body)
        for change in write.changes
    )


def _failure(failure: tuple[Write, TargetError], report: ApplyReport, secrets: frozenset[str]) -> TargetError:
    write, exc = failure
    missing = report.not_applied
    named = ", ".join(missing[:MAX_LISTED]) + (
        f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
    )
    message = Secrets(secrets).redact(
        f"{write.description} failed: {exc}; applied {len(report.applied)} write(s)"
        f" ({len(report.skipped)} already done), not applied: {named or 'none'}"
    )
    if isinstance(exc, AuthError):
        return AuthError(
            message, status_code=exc.status_code, code=exc.code, token_version=exc.token_version, refused=exc.refused
        )
    if isinstance(exc, RetryableError):
        # The rerun re-reads and settles this write against the gateway: no blind resend, hence no unknown outcome.
        return RetryableError(message, status_code=exc.status_code, code=exc.code, retry_after=exc.retry_after)
    return type(exc)(message, status_code=exc.status_code, code=exc.code)
