"""The canary: a task beat sends through the events queue every ``CANARY_INTERVAL_SECONDS``; a worker that runs it
writes the time. Its age is the reliable sign that workers consume (a process can be alive and no longer consuming,
celery#10205); beat's own mark says which of beat and the workers stopped.

    relay:canary    string: when a worker last ran the canary (unix time, repr of a float); no expiry
    relay:beat      string: when beat last sent it (written where beat publishes, see ``tasks.alerts``); no expiry
"""

from __future__ import annotations

from worker.store.keyspace import BEAT_KEY, CANARY_KEY

__all__ = ["BEAT_KEY", "CANARY_INTERVAL_SECONDS", "CANARY_KEY"]

CANARY_INTERVAL_SECONDS = 30.0
