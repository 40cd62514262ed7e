"""The one polling loop: what it returns, when it gives up, how it paces; and no second copy of it in the code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import FakeClock, wait_for
from worker.waiting import poll, wait_until

ROOT = Path(__file__).resolve().parents[2]
CLOCKS = {"time.monotonic()", "monotonic()", "time.time()", "clock()", "self.clock()"}


class Script:
    """A condition answering from a list (falsy until the answer), with the calls it got and a fake clock."""

    def __init__(self, answers: list[object], clock: FakeClock) -> None:
        self.answers, self.clock = answers, clock
        self.times: list[float] = []

    def __call__(self) -> object:
        self.times.append(self.clock())
        return self.answers[min(len(self.times), len(self.answers)) - 1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


def test_poll_returns_the_first_truthy_answer(clock: FakeClock) -> None:
    condition = Script([None, 0, "", "ready"], clock)

    assert poll(condition, timeout=10, interval=1, clock=clock, sleep=clock.advance) == "ready"
    assert condition.times == [100.0, 101.0, 102.0, 103.0]


def test_poll_gives_up_at_the_deadline_after_a_last_look(clock: FakeClock) -> None:
    condition = Script([False], clock)

    assert poll(condition, timeout=2.5, interval=1, clock=clock, sleep=clock.advance) is None
    assert condition.times == [100.0, 101.0, 102.0, 102.5]  # the last pause stops at the deadline


def test_poll_doubles_its_pause_up_to_the_cap(clock: FakeClock) -> None:
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        clock.advance(seconds)

    assert poll(lambda: None, timeout=6, interval=0.5, max_interval=2, clock=clock, sleep=sleep) is None
    assert pauses == [0.5, 1.0, 2.0, 2.0, 0.5]


def test_poll_with_no_time_looks_once(clock: FakeClock) -> None:
    condition = Script([False], clock)
    assert poll(condition, timeout=0, clock=clock, sleep=clock.advance) is None
    assert condition.times == [100.0]


def test_wait_until_names_what_did_not_happen() -> None:
    assert wait_until(lambda: 7, timeout=1, what="seven") == 7
    with pytest.raises(TimeoutError, match=r"^the answer did not happen within 0\.01 s$"):
        wait_until(lambda: None, timeout=0.01, what="the answer", interval=0.001)


def test_the_tests_wait_for_is_the_same_loop() -> None:
    assert wait_for(lambda: "done", timeout=1) == "done"
    with pytest.raises(pytest.fail.Exception, match=r"timed out after 0\.01s waiting for the thing"):
        wait_for(lambda: None, timeout=0.01, interval=0.001, what="the thing")


def _deadline_loops(path: Path) -> list[str]:
    """Functions that compute ``<clock>() + <timeout>`` and hold a ``while``: a hand-written deadline loop."""
    found = []
    for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        nodes = list(ast.walk(function))
        deadline = any(
            isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and ast.unparse(node.left) in CLOCKS
            for node in nodes
        )
        if deadline and any(isinstance(node, ast.While) for node in nodes):
            found.append(function.name)
    return found


def test_no_other_deadline_loop_is_written_by_hand() -> None:
    loops = {
        f"{path.relative_to(ROOT)}:{name}"
        for package in ("worker", "tasks", "webhooks", "tests")
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _deadline_loops(path)
    }
    assert loops == {"worker/waiting.py:poll"}
