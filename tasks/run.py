"""One run of one event: loaded once, its changes gathered, written at three well-defined points.

1. **Start** (``worker.store.runs.start``, one round trip): take the event's lock, read the record and, for a fresh
   attempt within the budget, mark it ``running`` with its attempt counted and told. A rarer state (left ``running``
   by a dead run, over the budget) is decided here in Python, with writes of its own.
2. **Before a non-idempotent call** (a POST or PATCH unless ``on_unknown: retry``): its in-flight mark, with every
   result gathered so far, so that a run cut short never sends it again blindly. A guarded call that landed is
   written at the latest before the next call is sent, so a later cut does not turn it into an unknown outcome.
3. **The end** (one transaction): results, status, history entries, metrics, the index and pending-set updates,
   the in-flight marks now settled and the lock's release.

An exception that escapes a run (a time limit, a bug) first writes what was gathered, so a rerun does not repeat an
action that took effect; a killed worker writes nothing, and the in-flight marks say what may have been sent.
"""

from __future__ import annotations

import contextlib
import logging
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from tasks import telemetry
from tasks.actions import Step, idempotency_key, run_action, runner_for
from tasks.rules import event_context, matching_rules
from worker.config import Action, CallAction, CeleryConfig, Rule
from worker.errors import (
    EventNotFound,
    PermanentError,
    RetryableError,
    RuleError,
    StoreError,
    TargetError,
    TokenError,
)
from worker.liveness.heartbeat import owner_id
from worker.runtime import CallCount, Runtime
from worker.store import inflight, runs
from worker.store.events import FINAL_STATUSES, ActionResult, EventRecord, EventStatus
from worker.store.keyspace import IN_FLIGHT, event_lock_key
from worker.store.locks import EventLock
from worker.store.runs import Start, StartArgs, Started, Writes
from worker.targets.retry import backoff_delay
from worker.tokens.store import TokenStore

log = logging.getLogger("relay.run")


@dataclass(frozen=True)
class RunOutcome:
    """What happened to the event this time; ``retry_in`` is set when it should run again later."""

    status: EventStatus
    retry_in: float | None = None


def attempts_allowed(limits: CeleryConfig) -> int:
    """The retry budget as a count of runs: the first run and ``celery.max_retries`` retries."""
    return limits.max_retries + 1


def retries_spent(attempts: int, limits: CeleryConfig) -> bool:
    """Whether ``attempts`` runs used the whole budget (``attempts_allowed``).

    The one place the bound is decided: a run does not start past it (the start script marks a run only below
    ``attempts_allowed``, the same bound), and a failed or interrupted run is not retried once it is reached.
    """
    return attempts >= attempts_allowed(limits)


class EventRun:
    """One run of one event; ``run`` once."""

    def __init__(self, runtime: Runtime, event_id: str) -> None:
        self.runtime = runtime
        self.event_id = event_id
        self.limits = runtime.settings.celery
        seconds = self.limits.task_time_limit + 10
        self.lock = EventLock(runtime.redis, event_lock_key(event_id), timeout=seconds, blocking=False,
                              thread_local=False)  # fmt: skip
        self.token = ""  # ours while we hold the lock
        self.calls: list[CallCount] = []
        self.settle_first = False  # a guarded call landed: written before anything else is sent

    def run(self) -> RunOutcome:
        """Run the event's matching rules once and record what happened; one run per event at a time."""
        try:
            started = self._start()  # an unreadable record raises here, with the lock ours
            if started.state == Start.HELD:
                # A duplicate message (a replay, a sweep) while another worker runs the event: that run finishes it.
                self.token = ""
                return RunOutcome(EventStatus.RUNNING)
            with self.runtime.gathering_calls() as self.calls, self._tokens_primed(started):
                return self._run(started)
        finally:
            self._release()

    def _start(self) -> Started:
        self.token = self.lock.new_token()
        retention = self.runtime.settings.retention_seconds
        args = StartArgs(self.token, self.lock.timeout or 0, attempts_allowed(self.limits), retention, owner_id(),
                         retention, tokens=self._token_names())  # fmt: skip
        started = runs.start(self.runtime.redis, self.event_id, args)
        if started.state == Start.HELD:
            if not self.lock.take_over(self.token):
                return started
            started = runs.start(self.runtime.redis, self.event_id, replace(args, have_lock=True))
        return started

    def _token_names(self) -> tuple[str, ...]:
        """The stored tokens the rules' calls may use: the start reads their heads with the record."""
        if not isinstance(self.runtime.tokens, TokenStore):
            return ()
        names = self.runtime.settings.token_names
        return tuple(sorted({names[a.call] for rule in self.runtime.settings.rules for a in rule.do
                             if isinstance(a, CallAction)}))  # fmt: skip

    def _tokens_primed(self, started: Started) -> AbstractContextManager[None]:
        if isinstance(self.runtime.tokens, TokenStore) and started.heads:
            return self.runtime.tokens.primed(started.heads)
        return contextlib.nullcontext()

    def _run(self, started: Started) -> RunOutcome:
        if started.record is None:
            raise EventNotFound(f"no event {self.event_id!r} (unknown or expired)")
        self.record = started.record
        self.writes = Writes(self.record, self.runtime.settings.retention_seconds)
        try:
            if started.state == Start.LOADED and (outcome := self._begin()) is not None:
                return outcome
            return self._match()
        except Exception:
            self._write_gathered()  # a rerun must not repeat what took effect
            raise

    def _begin(self) -> RunOutcome | None:
        """The start did not mark the run: decide what the record's state means (the rare path)."""
        record = self.record
        if record.status in FINAL_STATUSES:
            # A redelivered message for an event that already finished: nothing left to do.
            return RunOutcome(record.status)
        if record.status == EventStatus.RUNNING and self._poison():
            reason = (
                f"poison: {record.interrupted} runs of this event were cut short with nothing recorded "
                "(its worker died each time)"
            )
            return self._finish(EventStatus.FAILED, reason)
        if retries_spent(record.attempts, self.limits):
            # A redelivered message after the last allowed run (a retry scheduled before a time limit struck, a sweep).
            return self._finish(EventStatus.FAILED, f"gave up after {record.attempts} attempts")
        record.attempts += 1
        record.status = EventStatus.RUNNING
        self.writes.status()
        self.writes.also.append(telemetry.attempt(self.runtime, record))
        self._commit()
        return None

    def _poison(self) -> bool:
        """Count a run found cut short (the event left ``running``); True past ``celery.max_deliveries``."""
        # We hold the event lock: a ``running`` status left behind is a run that died without recording anything.
        self.record.interrupted = inflight.count_interrupted(self.runtime.redis, self.record.id)
        return self.record.interrupted > self.limits.max_deliveries

    def _match(self) -> RunOutcome:
        context = event_context(self.record)  # once per event; each rule gets its own copy for what it saves
        try:
            rules = matching_rules(self.runtime.settings.rules, self.record, context)
        except RuleError as exc:
            return self._finish(EventStatus.FAILED, str(exc))
        if not rules:
            reason = f"no rule matched source={self.record.source} event={self.record.type}"
            return self._finish(EventStatus.SKIPPED, reason)
        return self._run_rules(rules, context)

    def _run_rules(self, rules: list[Rule], context: dict[str, Any]) -> RunOutcome:
        """Run the rules' actions in order, skipping those already done; stops at the first failure."""
        done = {action.key: action for action in self.record.actions if action.ok}
        for rule in rules:
            own = dict(context)
            for index, action in enumerate(rule.do):
                step = Step(rule.name, index, idempotency_key(self.record.id, rule.name, index))
                if step.key in done:
                    runner_for(action).restore(action, done[step.key], own)
                    continue
                outcome = self._step(action, step, own)
                if outcome is not None:
                    return outcome
        return self._finish(EventStatus.DONE, None)

    def _step(self, action: Action, step: Step, context: dict[str, Any]) -> RunOutcome | None:
        """Run one action: None when it took effect, else what becomes of the event."""
        guarded = action.unknown_policy == "dead_letter"
        if guarded and step.key in self.record.in_flight:
            # Sent by a run that died before the answer: it may have taken effect, and sending it again may repeat it.
            return self._unknown(action, step)
        self._before_call(action, step, guarded)
        started = time.time()
        try:
            result = run_action(self.runtime, action, step, context)
        except RetryableError as exc:
            if guarded and exc.maybe_applied:
                return self._unknown(action, step)
            self._failed(action, step, exc, started, guarded)
            return self._retry_later(step, exc)
        except (PermanentError, TargetError, RuleError, TokenError) as exc:
            # A refused token (``AuthError``) was already reported to the token lifecycle by the call's runner.
            self._failed(action, step, exc, started, guarded)
            return self._finish(EventStatus.FAILED, _where(step, exc))
        result.attempts = _previous_attempts(self.record, step.key) + 1
        self._put(result)
        if guarded:
            self.writes.landed(step.key)
            self.settle_first = True
        self.writes.also.append(telemetry.action(self.runtime, self.record, result, started, action))
        return None

    def _before_call(self, action: Action, step: Step, guarded: bool) -> None:
        """The in-flight mark of a guarded call, and a landed one not yet written, go before the request."""
        if guarded:
            self.writes.fields[IN_FLIGHT + step.key] = action.description
            self.record.in_flight[step.key] = action.description
        if guarded or self.settle_first:
            self._commit()
            self.settle_first = False

    def _failed(self, action: Action, step: Step, exc: Exception, started: float, guarded: bool) -> None:
        """Record a failed attempt of an action; a guarded one's answer said it did not take effect."""
        status_code = exc.status_code if isinstance(exc, TargetError) else None
        self._put(_result(action, step, self.record, ok=False, status_code=status_code, error=str(exc)))
        result = next(result for result in self.record.actions if result.key == step.key)
        self.writes.also.append(telemetry.action(self.runtime, self.record, result, started, action))
        if guarded:  # a rerun may send it again
            self.writes.landed(step.key)

    def _retry_later(self, step: Step, exc: RetryableError) -> RunOutcome:
        """Schedule the next attempt after a transient failure, or give up past the retry budget."""
        if retries_spent(self.record.attempts, self.limits):
            return self._finish(EventStatus.FAILED, _where(step, exc))
        self.record.status = EventStatus.RETRYING
        self.record.error = _where(step, exc)
        delay = backoff_delay(self.record.attempts, retry_after=exc.retry_after, cap=self.limits.retry_backoff_max)
        self.writes.status()
        self.writes.also.append(telemetry.retrying(self.runtime, self.record, delay))
        self._commit(last=True)
        return RunOutcome(EventStatus.RETRYING, retry_in=delay)

    def _unknown(self, action: Action, step: Step) -> RunOutcome:
        """Dead-letter the event for an action whose outcome is unknown, naming what to check."""
        reason = inflight.unknown_reason(action.description)
        self._put(_result(action, step, self.record, ok=False, error=reason, unknown=True))
        self.writes.landed(step.key)
        return self._finish(EventStatus.FAILED, f"rule {step.rule!r} action {step.index}: {reason}")

    def _finish(self, status: EventStatus, error: str | None) -> RunOutcome:
        self.record.status = status
        self.record.error = error
        self.writes.status()
        self.writes.also.append(telemetry.finished(self.runtime, self.record))
        self._commit(last=True)
        return RunOutcome(status)

    def _put(self, result: ActionResult) -> None:
        self.record.actions = [action for action in self.record.actions if action.key != result.key] + [result]
        self.writes.results()

    def _commit(self, *, last: bool = False) -> None:
        """Write what was gathered (and the requests counted so far); ``last`` releases the lock with it."""
        if self.calls:
            self.writes.also.append(telemetry.calls(self.calls))
            self.calls.clear()
        if last:
            self.writes.release(self.lock.name, self.token.encode())
        self.writes.commit(self.runtime.redis)
        if last:
            self.token = ""

    def _write_gathered(self) -> None:
        if not self.writes:
            return
        try:
            self._commit()
        except StoreError as exc:
            log.warning("event %s: what this run gathered was not written (%s)", self.event_id, exc)

    def _release(self) -> None:
        if not self.token:
            return
        try:
            runs.release(self.runtime.redis, self.lock.name, self.token)
        except StoreError as exc:  # it expires with its timeout
            log.warning("event %s: lock not released (%s)", self.event_id, exc)
        self.token = ""


def _where(step: Step, exc: Exception) -> str:
    return f"rule {step.rule!r} action {step.index}: {exc}"


def _previous_attempts(record: EventRecord, key: str) -> int:
    return next((action.attempts for action in record.actions if action.key == key), 0)


def _result(
    action: Action, step: Step, record: EventRecord, *, ok: bool, error: str, status_code: int | None = None,
    unknown: bool = False,
) -> ActionResult:  # fmt: skip
    """A failed (or unknown) attempt's result."""
    detail: dict[str, Any] = {"at": time.time(), "unknown": True} if unknown else {"at": time.time()}
    return ActionResult(
        key=step.key, rule=step.rule, index=step.index, kind=action.kind, target=action.address, ok=ok,
        status_code=status_code, error=error, attempts=_previous_attempts(record, step.key) + 1, detail=detail,
    )  # fmt: skip
