"""Processing one event: load it, match rules, run the actions not yet done, record the outcome.

Plain functions over a ``Runtime`` so they can be tested without Celery; the task in ``tasks.process``
only turns the outcome into a Celery retry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tasks import telemetry
from tasks.actions import Step, idempotency_key, run_action, runner_for
from tasks.rules import event_context, matching_rules
from worker.config import Action, CeleryConfig, Rule
from worker.errors import CorruptRecord, PermanentError, RetryableError, RuleError, TargetError, TokenError
from worker.runtime import Runtime
from worker.store import inflight
from worker.store.events import FINAL_STATUSES, ActionResult, EventRecord, EventStatus
from worker.store.locks import event_lock, release_quietly
from worker.targets.retry import backoff_delay


@dataclass(frozen=True)
class RunOutcome:
    """What happened to the event this time; ``retry_in`` is set when it should run again later."""

    status: EventStatus
    retry_in: float | None = None


def retries_spent(attempts: int, limits: CeleryConfig) -> bool:
    """Whether ``attempts`` runs used the whole budget: the first run and ``celery.max_retries`` retries.

    The one place the bound is written: a run does not start past it, and a failed or interrupted run is not
    retried once it is reached.
    """
    return attempts >= limits.max_retries + 1


def process(runtime: Runtime, event_id: str) -> RunOutcome:
    """Run the event's matching rules once and record what happened; one run per event at a time."""
    lock = event_lock(runtime.redis, event_id, runtime.settings.celery.task_time_limit + 10)
    if not lock.acquire():
        # A duplicate message (a replay, a sweep) while another worker runs the event: that run finishes it.
        return RunOutcome(EventStatus.RUNNING)
    try:
        return _process(runtime, event_id)
    finally:
        release_quietly(lock)


def _process(runtime: Runtime, event_id: str) -> RunOutcome:
    record = runtime.events.get(event_id)
    if record.status in FINAL_STATUSES:
        # A redelivered message for an event that already finished: nothing left to do.
        return RunOutcome(record.status)
    if record.status == EventStatus.RUNNING and _poison(runtime, record):
        runs = record.interrupted
        reason = f"poison: {runs} runs of this event were cut short with nothing recorded (its worker died each time)"
        return _finish(runtime, record, EventStatus.FAILED, reason)
    if retries_spent(record.attempts, runtime.settings.celery):
        # A redelivered message after the last allowed run (a retry scheduled before a time limit struck, a sweep).
        return _finish(runtime, record, EventStatus.FAILED, f"gave up after {record.attempts} attempts")
    record.attempts += 1
    record.status = EventStatus.RUNNING
    runtime.events.save_status(record, also=telemetry.attempt(runtime, record))

    try:
        rules = matching_rules(runtime.settings.rules, record)
    except RuleError as exc:
        return _finish(runtime, record, EventStatus.FAILED, str(exc))
    if not rules:
        return _finish(
            runtime,
            record,
            EventStatus.SKIPPED,
            f"no rule matched source={record.source} event={record.type}",
        )
    return _run_rules(runtime, record, rules)


def _run_rules(runtime: Runtime, record: EventRecord, rules: list[Rule]) -> RunOutcome:
    """Run the rules' actions in order, skipping those already done; stops at the first failure."""
    done = {action.key: action for action in record.actions if action.ok}
    for rule in rules:
        context = event_context(record)
        for index, action in enumerate(rule.do):
            step = Step(rule.name, index, idempotency_key(record.id, rule.name, index))
            if step.key in done:
                runner_for(action).restore(action, done[step.key], context)
                continue
            outcome = _run_step(runtime, record, action, step, context)
            if outcome is not None:
                return outcome
    return _finish(runtime, record, EventStatus.DONE, None)


def _poison(runtime: Runtime, record: EventRecord) -> bool:
    """Count a run found cut short (the event left ``running``); True past ``celery.max_deliveries``."""
    # We hold the event lock: a ``running`` status left behind is a run that died without recording anything.
    record.interrupted = inflight.count_interrupted(runtime.redis, record.id)
    return record.interrupted > runtime.settings.celery.max_deliveries


def _run_step(
    runtime: Runtime, record: EventRecord, action: Action, step: Step, context: dict[str, Any]
) -> RunOutcome | None:
    """Run one action and record its result: None when it took effect, else what becomes of the event."""
    guarded = action.unknown_policy == "dead_letter"
    if guarded and step.key in record.in_flight:
        # Sent by a run that died before the answer: it may have taken effect, and sending it again may repeat it.
        return _unknown(runtime, record, action, step)
    if guarded:
        inflight.mark(runtime.redis, record.id, step.key, action.description)
    started = time.time()
    try:
        result = run_action(runtime, action, step, context)
    except RetryableError as exc:
        if guarded and exc.maybe_applied:
            return _unknown(runtime, record, action, step)
        outcome = _retry_later(runtime, record, action, step, exc)
    except (PermanentError, TargetError, RuleError, TokenError) as exc:
        # A refused token (``AuthError``) was already reported to the token lifecycle by the call's runner.
        _record_failure(record, step, action, exc)
        outcome = _finish(runtime, record, EventStatus.FAILED, _where(step, exc), with_actions=True)
    else:
        result.attempts = _previous_attempts(record, step.key) + 1
        _put_result(record, result)
        # Recorded the moment it took effect: whatever cuts this attempt short, a rerun will not repeat it.
        runtime.events.save_actions(record, landed=step.key if guarded else None)
        telemetry.action(runtime, record, result, started, action)
        return None
    telemetry.action(runtime, record, telemetry.result_of(record, step.key), started, action)
    if guarded:  # the answer said it did not take effect: a rerun may send it again
        inflight.clear(runtime.redis, record.id, step.key)
    return outcome


def _retry_later(runtime: Runtime, record: EventRecord, action: Action, step: Step, exc: RetryableError) -> RunOutcome:
    """Record a transient failure and schedule the next attempt, or give up past the retry budget."""
    _record_failure(record, step, action, exc)
    limits = runtime.settings.celery
    if retries_spent(record.attempts, limits):
        return _finish(runtime, record, EventStatus.FAILED, _where(step, exc), with_actions=True)
    record.status = EventStatus.RETRYING
    record.error = _where(step, exc)
    delay = backoff_delay(record.attempts, retry_after=exc.retry_after, cap=limits.retry_backoff_max)
    runtime.events.save_status(record, with_actions=True, also=telemetry.retrying(runtime, record, delay))
    return RunOutcome(EventStatus.RETRYING, retry_in=delay)


def _unknown(runtime: Runtime, record: EventRecord, action: Action, step: Step) -> RunOutcome:
    """Dead-letter the event for an action whose outcome is unknown, naming what to check."""
    reason = inflight.unknown_reason(action.description)
    _put_result(
        record,
        ActionResult(
            key=step.key, rule=step.rule, index=step.index, kind=action.kind, target=action.address, ok=False,
            error=reason, attempts=_previous_attempts(record, step.key) + 1,
            detail={"at": time.time(), "unknown": True},
        ),
    )  # fmt: skip
    outcome = _finish(
        runtime, record, EventStatus.FAILED, f"rule {step.rule!r} action {step.index}: {reason}", with_actions=True
    )
    inflight.clear(runtime.redis, record.id, step.key)
    return outcome


def interrupted(runtime: Runtime, event_id: str, reason: str) -> RunOutcome:
    """An attempt cut short (a time limit): retry later like a transient failure, or give up past the budget."""
    record = runtime.events.get(event_id)
    limits = runtime.settings.celery
    if retries_spent(record.attempts, limits):
        return _finish(runtime, record, EventStatus.FAILED, f"{reason}; gave up after {record.attempts} attempts")
    record.status = EventStatus.RETRYING
    record.error = reason
    runtime.events.save_status(record)
    return RunOutcome(EventStatus.RETRYING, retry_in=backoff_delay(record.attempts, cap=limits.retry_backoff_max))


def fail(runtime: Runtime, event_id: str, error: str) -> None:
    """Dead-letter an event after an unexpected error, so it is never left silently ``running``."""
    try:
        record = runtime.events.get(event_id)
    except CorruptRecord as exc:
        runtime.events.dead_letter_corrupt(event_id, f"{error}; {exc}")
        return
    if record.status not in FINAL_STATUSES:
        _finish(runtime, record, EventStatus.FAILED, error)


def _finish(
    runtime: Runtime, record: EventRecord, status: EventStatus, error: str | None, *, with_actions: bool = False
) -> RunOutcome:
    record.status = status
    record.error = error
    runtime.events.save_status(record, with_actions=with_actions, also=telemetry.finished(runtime, record))
    return RunOutcome(status)


def _where(step: Step, exc: Exception) -> str:
    return f"rule {step.rule!r} action {step.index}: {exc}"


def _previous_attempts(record: EventRecord, key: str) -> int:
    return next((action.attempts for action in record.actions if action.key == key), 0)


def _record_failure(record: EventRecord, step: Step, action: Action, exc: Exception) -> None:
    status_code = exc.status_code if isinstance(exc, TargetError) else None
    _put_result(
        record,
        ActionResult(
            key=step.key,
            rule=step.rule,
            index=step.index,
            kind=action.kind,
            target=action.address,
            ok=False,
            status_code=status_code,
            error=str(exc),
            attempts=_previous_attempts(record, step.key) + 1,
            detail={"at": time.time()},
        ),
    )


def _put_result(record: EventRecord, result: ActionResult) -> None:
    record.actions = [action for action in record.actions if action.key != result.key] + [result]
