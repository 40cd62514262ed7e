"""``relay bench``: Relay's speed and memory against its goals, on real processes it starts itself."""

from worker.devtools.bench.run import BenchPlan, run_bench

__all__ = ["BenchPlan", "run_bench"]
