"""The one supervisor: named children with env and log, ready checks, graceful stop with a deadline, kill, restart."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.devtools.supervise.children import Child, ChildFailed, Supervisor, log_ready

# A child that says it is ready, names a variable of its environment, and says goodbye on SIGTERM.
POLITE = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("bye", flush=True), sys.exit(3)))
print("ready", os.environ.get("GREETING"), flush=True)
while True:
    time.sleep(0.05)
"""
# A child that ignores SIGTERM, as a stuck process would.
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    supervisor = Supervisor(tmp_path / "logs", {"GREETING": "base"})
    yield supervisor
    supervisor.stop(2)


def test_a_child_gets_the_env_logs_to_its_file_and_stops_gracefully(supervisor: Supervisor, tmp_path: Path) -> None:
    child = supervisor.start("polite", python(POLITE), env={"GREETING": "hello"}, ready=log_ready("ready"))

    assert child.log == tmp_path / "logs" / "polite.log"
    assert "ready hello" in child.output()
    assert child.stop(10) == 3  # its own SIGTERM handler ran: a graceful stop, not a kill
    assert "bye" in child.output()


def test_a_child_ignoring_sigterm_is_killed_at_the_deadline(supervisor: Supervisor) -> None:
    child = supervisor.start("stubborn", python(STUBBORN), ready=log_ready("ready"))

    assert child.stop(0.5) == -signal.SIGKILL
    assert not child.running()


def test_kill_is_sigkill_and_restart_starts_the_same_command_again(supervisor: Supervisor) -> None:
    child = supervisor.start("polite", python(POLITE), ready=log_ready("ready"))
    first = child.pid

    child.kill()
    assert child.process is not None
    assert child.process.returncode == -signal.SIGKILL
    assert supervisor.exited() == "polite"

    supervisor.restart("polite").wait_ready(lambda c: c.output().count("ready") == 2, 30)
    assert child.running()
    assert child.pid != first
    assert "bye" not in child.output()  # a kill gives no chance to say goodbye


def test_a_child_that_exits_while_starting_fails_with_the_tail_of_its_log(supervisor: Supervisor) -> None:
    with pytest.raises(ChildFailed) as caught:
        supervisor.start("broken", python("raise SystemExit('no config file')"), ready=log_ready("ready"))

    assert str(caught.value).startswith("broken exited while starting; its log (")
    assert "no config file" in str(caught.value)


def test_a_child_not_ready_in_time_fails_naming_the_wait(supervisor: Supervisor) -> None:
    with pytest.raises(ChildFailed, match=r"slow was not ready within 0\.2s"):
        supervisor.start("slow", python(STUBBORN), ready=log_ready("never printed"), timeout=0.2)


def test_stop_stops_every_child_and_forgets_them(supervisor: Supervisor) -> None:
    children = [supervisor.start(name, python(POLITE), ready=log_ready("ready")) for name in ("a", "b")]
    stubborn = supervisor.start("c", python(STUBBORN), ready=log_ready("ready"))

    supervisor.stop(1)

    assert supervisor.children == {}
    assert [child.running() for child in [*children, stubborn]] == [False, False, False]
    assert all("bye" in child.output() for child in children)


def test_a_second_child_of_a_running_name_is_refused(supervisor: Supervisor) -> None:
    supervisor.start("polite", python(POLITE), ready=log_ready("ready"))

    with pytest.raises(ValueError, match="a child named 'polite' is already running"):
        supervisor.start("polite", python(POLITE))
    assert len(supervisor.children) == 1


def test_a_child_never_started_has_no_output_and_is_not_running(tmp_path: Path) -> None:
    child = Child("idle", python(POLITE), tmp_path / "idle.log", {})

    assert (child.running(), child.output(), child.stop(1)) == (False, "", None)
