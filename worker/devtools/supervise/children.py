"""The one process supervisor: named children with an environment and a log file, for relay up, chaos, bench and tests.

Each child runs in its own session (so a signal reaches its pool processes too), logs to ``<log_dir>/<name>.log``,
and is stopped gracefully (SIGTERM to the child, which stops its own pool) with a deadline, then SIGKILL to the
whole process group so nothing lingers. ``kill`` is the fault: SIGKILL at once, as an OOM kill or a lost machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from worker.errors import RelayError
from worker.waiting import poll

STOP_SECONDS = 15.0
_TAIL_CHARS = 4000  # what of a failed child's log goes into the error


class ChildFailed(RelayError):
    """A child exited, or did not become ready in time; the message ends with the tail of its log."""


Ready = Callable[["Child"], bool]


def _die_with_parent() -> None:
    # The child gets SIGTERM if its supervisor is killed, so nothing is left behind (Linux only; else ignored).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    """One named child process: its command, environment and log file."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    cwd: Path | None = None
    die_with_parent: bool = False
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        """Start (or start again) the process, appending to its log."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        return self

    @property
    def pid(self) -> int:
        """The child's process id (it leads its process group)."""
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def running(self) -> bool:
        """Whether the process is started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """Everything the child has logged so far."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, ready: Ready, timeout: float) -> Child:
        """Wait until ``ready(child)`` holds; raise ``ChildFailed`` if the child exits first or time runs out."""
        outcome = poll(lambda: "ready" if ready(self) else None if self.running() else "exited", timeout=timeout)
        if outcome == "exited" or (outcome is None and not self.running()):
            raise self._failed("exited while starting")
        if outcome is None:
            raise self._failed(f"was not ready within {timeout:g}s")
        return self

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the child alone (not its pool), as an operator's ``kill -TERM <pid>`` would."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int:
        """Wait up to ``timeout`` for the child to exit on its own; its exit code (``TimeoutExpired`` if not)."""
        assert self.process is not None, f"{self.name} was never started"
        return self.process.wait(timeout)

    def stop(self, timeout: float = STOP_SECONDS) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL the process group; returns the exit code."""
        self.signal(signal.SIGTERM)
        return self.reap(time.monotonic() + timeout)

    def kill(self) -> None:
        """SIGKILL the child and its pool at once, as the OOM killer or a lost machine would."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> Child:
        """Kill the child and start it again with the same command, environment and log."""
        self.kill()
        return self.start()

    def reap(self, deadline: float) -> int | None:
        """Wait for the child to exit until ``deadline`` (monotonic), then SIGKILL its group; returns the exit code."""
        if self.process is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(max(0.1, deadline - time.monotonic()))
        self.kill()  # what lingers (the child itself, or pool processes it left behind)
        return self.process.returncode

    def _failed(self, what: str) -> ChildFailed:
        return ChildFailed(f"{self.name} {what}; its log ({self.log}) ends:\n{self.output()[-_TAIL_CHARS:]}")


@dataclass
class Supervisor:
    """Named children sharing a log folder and an environment; stopped together, newest first."""

    log_dir: Path
    env: dict[str, str]
    cwd: Path | None = None
    die_with_parent: bool = False
    children: dict[str, Child] = field(default_factory=dict)

    def start(
        self, name: str, argv: list[str], *, env: dict[str, str] | None = None, ready: Ready | None = None,
        timeout: float = 60.0,
    ) -> Child:  # fmt: skip
        """Start ``argv`` as ``name`` (logging to ``<log_dir>/<name>.log``); wait until ``ready`` if given."""
        if name in self.children and self.children[name].running():
            # Replacing it would leave it running, out of reach of ``stop``.
            raise ValueError(f"a child named {name!r} is already running")
        environment = {**self.env, **(env or {})}
        child = Child(name, argv, self.log_dir / f"{name}.log", environment, self.cwd, self.die_with_parent)
        self.children[name] = child.start()
        return child.wait_ready(ready, timeout) if ready is not None else child

    def __getitem__(self, name: str) -> Child:
        return self.children[name]

    def exited(self) -> str | None:
        """The name of a child that has exited, if any."""
        return next((name for name, child in self.children.items() if not child.running()), None)

    def restart(self, name: str) -> Child:
        """SIGKILL ``name`` and start it again."""
        return self.children[name].restart()

    def stop_child(self, name: str, timeout: float = STOP_SECONDS) -> None:
        """Stop one child gracefully and forget it."""
        child = self.children.pop(name, None)
        if child is not None:
            child.stop(timeout)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM every child, newest first; SIGKILL what is still there after ``timeout``; forget them."""
        newest_first = list(reversed(self.children.values()))
        for child in newest_first:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in newest_first:
            child.reap(deadline)
        self.children.clear()


def answers(url: str) -> bool:
    """Whether ``url`` answers below 500 now."""
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=1).status_code < 500
    return False


def http_ready(url: str) -> Ready:
    """Ready once ``url`` answers below 500."""
    return lambda _: answers(url)


def log_ready(text: str) -> Ready:
    """Ready once the child's log contains ``text`` (Celery's ``ready.``, beat's ``beat: Starting``)."""
    return lambda child: text in child.output()


def wait_http(url: str, timeout: float) -> bool:
    """Whether ``url`` answers below 500 within ``timeout`` seconds (for servers not started here)."""
    return poll(lambda: answers(url), timeout=timeout, interval=0.1) is not None
