"""The fault suite: Relay on real processes, under kills, restarts and a failing admin API (``relay chaos``).

cluster   the processes: embedded Redis with its append-only file, sandbox, receiver, two workers, beat
run       the plan: steady deliveries, a worker SIGKILLed every few seconds, Redis restarted, receiver killed
report    what it proves: posted, acknowledged, done, dead letters by reason, missing, duplicated effects
"""

from worker.devtools.chaos.report import Report
from worker.devtools.chaos.run import ChaosPlan, run

__all__ = ["ChaosPlan", "Report", "run"]
