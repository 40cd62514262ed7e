"""Beat's token job: ``relay.check_tokens`` runs ``worker.tokens.checker`` under a job lock.

The check itself lives in ``worker.tokens.checker`` so that ``relay tokens check`` runs the same code without
importing tasks. The job lock lets only one check act at a time, whichever beat scheduled it (two beats by
mistake, or a restarted one); the check is safe to run twice anyway (rotation locks, notification markers).
"""

from __future__ import annotations

import logging
from typing import Any

from worker.celery_app import app
from worker.errors import TokenError
from worker.runtime import Runtime, get_runtime
from worker.store.locks import job_lock, release_quietly
from worker.tokens.checker import CheckReport, TokenChecker
from worker.tokens.source import open_store

CHECK_TOKENS = "relay.check_tokens"

log = logging.getLogger("relay.tasks")


def run_check(runtime: Runtime, *, checker: TokenChecker | None = None) -> list[CheckReport] | None:
    """Check every token under the job lock; None when another check holds it."""
    settings = runtime.settings
    if checker is None:
        checker = TokenChecker(open_store(settings, runtime.redis), settings, transport=runtime.transport)
    # The lock outlives any sane check; a holder killed mid-check is taken over once its heartbeat stops.
    lock = job_lock(runtime.redis, "check_tokens", max(settings.tokens.check_interval_seconds, 60))
    if not lock.acquire():
        log.info("token check skipped: another one is running")
        return None
    try:
        return checker.check_all()
    finally:
        release_quietly(lock)


@app.task(name=CHECK_TOKENS)
def check_tokens() -> dict[str, Any]:
    """Beat's periodic token check; returns a summary (no secrets) for the task log."""
    try:
        reports = run_check(get_runtime())
    except TokenError as exc:
        log.error("token check impossible: %s", exc)
        return {"error": str(exc)}
    if reports is None:
        return {"skipped": "another check is running"}
    for report in reports:
        if report.actions or report.error:
            log.info("token %s: %s %s", report.name, report.status, "; ".join(report.actions) or report.error)
    return {report.name: str(report.status) for report in reports}
