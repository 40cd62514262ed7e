"""The Celery task that processes one event. Thin: the logic lives in ``tasks.pipeline``."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_shutdown

from tasks import pipeline
from worker.celery_app import PROCESS_EVENT, app
from worker.channels import close_shared_client
from worker.errors import CorruptRecord, EventNotFound, StoreError
from worker.runtime import close_runtime, get_runtime

log = logging.getLogger("relay.tasks")

STORE_RETRIES = 20


@app.task(bind=True, name=PROCESS_EVENT, max_retries=None)
def process_event(self: Task, event_id: str) -> str:
    """Process one stored event; retried later (a new message) when an action meets a transient failure."""
    runtime = get_runtime()
    try:
        outcome = pipeline.process(runtime, event_id)
    except EventNotFound:
        log.warning("event %s not found (expired or purged); dropping its message", event_id)
        return "missing"
    except CorruptRecord as exc:
        # Retrying cannot repair it: into the dead letters with the reason, where the sweeper leaves it alone.
        log.error("event %s: %s; dead-lettered", event_id, exc)
        runtime.events.dead_letter_corrupt(event_id, str(exc))
        return "corrupt"
    except StoreError:
        # Redis trouble: try again shortly; past the cap the record stays unfinished and the sweeper re-queues it.
        raise self.retry(countdown=5, max_retries=STORE_RETRIES) from None
    except SoftTimeLimitExceeded:
        # A call outlived the task's time budget: transient like any timeout, so retried, not dead-lettered.
        outcome = pipeline.interrupted(runtime, event_id, "the task ran past its soft time limit")
    except Exception as exc:
        log.exception("event %s: unexpected error", event_id)
        pipeline.fail(runtime, event_id, f"internal error: {type(exc).__name__}")
        return "failed"
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return str(outcome.status)


@worker_process_shutdown.connect
def _close_runtime(**_: Any) -> None:
    close_runtime()
    close_shared_client()
