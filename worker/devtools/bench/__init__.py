"""``relay bench``: Relay's speed and memory against its goals, on real processes it starts itself."""

from worker.devtools.bench.run import Plan, run_bench

__all__ = ["Plan", "run_bench"]
