"""Processing one event: load it, match rules, run the actions not yet done, record the outcome.

Plain functions over a ``Runtime`` so they can be tested without Celery; the task in ``tasks.process``
only turns the outcome into a Celery retry.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from tasks.actions import SAVED, run_action
from tasks.rules import event_context, matching_rules
from worker.errors import AuthError, PermanentError, RelayError, RetryableError, RuleError, TargetError, TokenError
from worker.events import FINAL_STATUSES, ActionResult, EventRecord, EventStatus
from worker.locks import event_lock, release_quietly
from worker.runtime import Runtime
from worker.settings import Action, CallAction
from worker.targets.retry import backoff_delay
from worker.tokens.notify import Notifier
from worker.tokens.records import TokenStatus
from worker.tokens.rotation import recovery_steps
from worker.tokens.store import TokenStore

log = logging.getLogger("relay.tasks")


@dataclass(frozen=True)
class Outcome:
    """What happened to the event this time; ``retry_in`` is set when it should run again later."""

    status: EventStatus
    retry_in: float | None = None


def process(runtime: Runtime, event_id: str) -> Outcome:
    """Run the event's matching rules once and record what happened; one run per event at a time."""
    lock = event_lock(runtime.redis, event_id, runtime.settings.celery.task_time_limit + 10)
    if not lock.acquire():
        # A duplicate message (a replay, a sweep) while another worker runs the event: that run finishes it.
        return Outcome(EventStatus.RUNNING)
    try:
        return _process(runtime, event_id)
    finally:
        release_quietly(lock)


def _process(runtime: Runtime, event_id: str) -> Outcome:
    record = runtime.events.get(event_id)
    if record.status in FINAL_STATUSES:
        # A redelivered message for an event that already finished: nothing left to do.
        return Outcome(record.status)
    limits = runtime.settings.celery
    record.attempts += 1
    if record.attempts > limits.max_retries + 1:
        return _finish(runtime, record, EventStatus.FAILED, f"gave up after {record.attempts - 1} attempts")
    record.status = EventStatus.RUNNING
    runtime.events.save(record)

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

    done = {action.key: action for action in record.actions if action.ok}
    for rule in rules:
        context = event_context(record)
        for index, action in enumerate(rule.do):
            key = f"{record.id}:{rule.name}:{index}"
            if key in done:
                _restore_saved(action, done[key], context)
                continue
            try:
                result = run_action(runtime, action, rule=rule.name, index=index, key=key, context=context)
            except RetryableError as exc:
                _record_failure(record, key, rule.name, index, action, exc)
                if record.attempts > limits.max_retries:
                    return _finish(runtime, record, EventStatus.FAILED, _where(rule.name, index, exc))
                record.status = EventStatus.RETRYING
                record.error = _where(rule.name, index, exc)
                runtime.events.save(record)
                delay = backoff_delay(record.attempts, retry_after=exc.retry_after, cap=limits.retry_backoff_max)
                return Outcome(EventStatus.RETRYING, retry_in=delay)
            except AuthError as exc:
                _record_failure(record, key, rule.name, index, action, exc)
                _distrust_token(runtime, action, exc)
                return _finish(runtime, record, EventStatus.FAILED, _where(rule.name, index, exc))
            except (PermanentError, TargetError, RuleError, TokenError) as exc:
                _record_failure(record, key, rule.name, index, action, exc)
                return _finish(runtime, record, EventStatus.FAILED, _where(rule.name, index, exc))
            result.attempts = _previous_attempts(record, key) + 1
            _put_result(record, result)
            # Recorded the moment it took effect: whatever cuts this attempt short, a rerun will not repeat it.
            runtime.events.save_actions(record)
    return _finish(runtime, record, EventStatus.DONE, None)


def _restore_saved(action: Action, result: ActionResult, context: dict[str, Any]) -> None:
    """Give later actions the answer a done ``save_as`` call kept, as the first run did."""
    if isinstance(action, CallAction) and action.save_as and SAVED in result.detail:
        context.setdefault("saved", {})[action.save_as] = result.detail[SAVED]


def interrupted(runtime: Runtime, event_id: str, reason: str) -> Outcome:
    """An attempt cut short (a time limit): retry later like a transient failure, or give up past the budget."""
    record = runtime.events.get(event_id)
    limits = runtime.settings.celery
    if record.attempts > limits.max_retries:
        return _finish(runtime, record, EventStatus.FAILED, f"{reason}; gave up after {record.attempts} attempts")
    record.status = EventStatus.RETRYING
    record.error = reason
    runtime.events.save(record)
    return Outcome(EventStatus.RETRYING, retry_in=backoff_delay(record.attempts, cap=limits.retry_backoff_max))


def fail(runtime: Runtime, event_id: str, error: str) -> None:
    """Dead-letter an event after an unexpected error, so it is never left silently ``running``."""
    record = runtime.events.get(event_id)
    if record.status not in FINAL_STATUSES:
        _finish(runtime, record, EventStatus.FAILED, error)


def action_target(action: Action) -> str:
    """The target or channel an action addresses."""
    return action.call if isinstance(action, CallAction) else action.notify


def _distrust_token(runtime: Runtime, action: Action, exc: AuthError) -> None:
    """Mark the refused version of the target's token ``invalid`` and alert operators now, not at the next check.

    Not for a mere lack of permission (403, CODING's UnauthorizedOperation): the token itself still works.
    """
    refused = exc.status_code == 401 or (exc.code or "").startswith("AuthFailure")
    store = runtime.tokens
    if not refused or exc.token_version is None or not isinstance(store, TokenStore):
        return
    if not isinstance(action, CallAction):
        return
    name = runtime.settings.token_names[action.call]
    # Only the version that was refused: a secret installed meanwhile is left alone.
    record = store.set_status(name, TokenStatus.INVALID, exc.message, expected_version=exc.token_version)
    if record is None:
        return
    text = f"Relay: token {name} (target {record.target}) was refused by the admin API. " + recovery_steps(record)
    try:
        Notifier(store, runtime.settings).alert(record, "invalid", text)
    except RelayError as alert_error:
        log.warning(
            "token %s: could not send the invalid-token alert now (%s); the token check retries", name, alert_error
        )


def _finish(runtime: Runtime, record: EventRecord, status: EventStatus, error: str | None) -> Outcome:
    record.status = status
    record.error = error
    runtime.events.save(record)
    return Outcome(status)


def _where(rule: str, index: int, exc: Exception) -> str:
    return f"rule {rule!r} action {index}: {exc}"


def _previous_attempts(record: EventRecord, key: str) -> int:
    return next((action.attempts for action in record.actions if action.key == key), 0)


def _record_failure(record: EventRecord, key: str, rule: str, index: int, action: Action, exc: Exception) -> None:
    status_code = exc.status_code if isinstance(exc, TargetError) else None
    _put_result(
        record,
        ActionResult(
            key=key,
            rule=rule,
            index=index,
            kind="call" if isinstance(action, CallAction) else "notify",
            target=action_target(action),
            ok=False,
            status_code=status_code,
            error=str(exc),
            attempts=_previous_attempts(record, key) + 1,
            detail={"at": time.time()},
        ),
    )


def _put_result(record: EventRecord, result: ActionResult) -> None:
    record.actions = [action for action in record.actions if action.key != result.key] + [result]
