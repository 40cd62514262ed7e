"""The seam to the ``git`` executable: every git command Relay runs goes through ``Git.run``.

The environment is built from scratch, never inherited whole: no system or global git configuration (a
developer's credential helper or ``url.insteadOf`` must not apply), no terminal prompt, no trace variables (they
could print headers). A token reaches git only through ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/
``GIT_CONFIG_VALUE_n`` (``http.<url>.extraHeader``, scoped to the repository's URL): never an argument (``ps``
shows those to every user), never a URL, never a file. A process's environment is readable only by its own user
(``/proc/<pid>/environ`` is mode 0400).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from worker.errors import GitMissing, RepoUnavailable
from worker.waiting import poll

# GIT_CONFIG_COUNT and friends came with git 2.31.
MIN_VERSION = (2, 31)
POLL_SECONDS = 0.1
# Variables passed through from Relay's own environment: where to find programs, and the proxies to use.
PASSED = ("PATH", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "SSL_CERT_FILE")
INSTALL_HINT = "install git (Debian/Ubuntu: apt-get install git; the Docker image has it)"

Watch = Callable[[], str | None]


@dataclass(frozen=True)
class GitResult:
    """What a git command did: its exit status, output and (decoded) error output."""

    returncode: int
    stdout: bytes
    stderr: str


class Git(Protocol):
    """Runs one git command; raises ``RepoUnavailable`` on timeout and ``GitMissing`` when git is not there."""

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        timeout: float,
        config: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        watch: Watch | None = None,
    ) -> GitResult:
        """Run ``git <args>`` in ``cwd``; ``config`` goes through the environment; ``watch`` may abort it."""
        ...


class GitAborted(RepoUnavailable):
    """``watch`` stopped the command (it returned a reason); the caller turns the reason into its own error."""


def environment(config: Mapping[str, str] | None, home: Path) -> dict[str, str]:
    """The whole environment of a git command: passed-through variables, isolation, and ``config``."""
    env = {name: os.environ[name] for name in PASSED if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        HOME=str(home),
        LC_ALL="C",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="",
        SSH_ASKPASS="",
        GIT_PROTOCOL_FROM_USER="0",
        GIT_TRACE_REDACT="1",
    )
    items = list((config or {}).items())
    env["GIT_CONFIG_COUNT"] = str(len(items))
    for index, (key, value) in enumerate(items):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


class SubprocessGit:
    """The real ``git``, each command in its own process group so that a timeout kills its helpers too."""

    def __init__(self, executable: str | None = None, *, home: Path | None = None) -> None:
        self.executable = executable or shutil.which("git")
        self.home = home or Path(os.devnull).parent  # an existing directory with no .gitconfig of anyone's

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        timeout: float,
        config: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        watch: Watch | None = None,
    ) -> GitResult:
        """See ``Git.run``."""
        if not self.executable:
            raise GitMissing(f"git is not installed: {INSTALL_HINT}")
        try:
            process = subprocess.Popen(  # noqa: S603 (a fixed executable; arguments carry no secret)
                [self.executable, *args], cwd=cwd, env=environment(config, self.home), start_new_session=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
        except OSError as exc:
            raise GitMissing(f"git cannot be run ({exc.strerror}): {INSTALL_HINT}") from None
        out, err = _communicate(process, stdin, timeout, watch, args[0] if args else "git")
        return GitResult(process.returncode, out, err.decode("utf-8", "replace"))


def _communicate(
    process: subprocess.Popen[bytes], stdin: bytes | None, timeout: float, watch: Watch | None, what: str
) -> tuple[bytes, bytes]:
    started = time.monotonic()
    pending = [stdin]
    outputs: list[tuple[bytes, bytes]] = []

    def finished() -> bool:
        # Each look waits for git itself: a slice of the time with a watch to ask between slices, else all of it.
        left = max(0.0, timeout - (time.monotonic() - started))
        try:
            outputs.append(process.communicate(pending[0], timeout=min(POLL_SECONDS, left) if watch else left))
        except subprocess.TimeoutExpired:
            pending[0] = None  # communicate() keeps feeding what it started with
        else:
            return True
        reason = watch() if watch else None
        if reason is not None:
            _kill(process)
            raise GitAborted(reason)
        return False

    if not poll(finished, timeout=timeout, interval=0):
        _kill(process)
        raise RepoUnavailable(f"git {what} did not finish within {timeout:g}s")
    return outputs[0]


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def version(git: SubprocessGit | None = None) -> tuple[int, int] | None:
    """The installed git's (major, minor), or None when there is no runnable git."""
    runner = git or SubprocessGit()
    try:
        result = runner.run(["--version"], cwd=Path.cwd(), timeout=10)
    except (GitMissing, RepoUnavailable):
        return None
    match = re.search(rb"(\d+)\.(\d+)", result.stdout)
    return (int(match.group(1)), int(match.group(2))) if result.returncode == 0 and match else None


def check_git(git: SubprocessGit | None = None) -> str:
    """One line saying which git reads repositories; ``GitMissing`` when none does or it is too old."""
    found = version(git)
    if found is None:
        raise GitMissing(f"git is not installed: {INSTALL_HINT}")
    if found < MIN_VERSION:
        raise GitMissing(f"git {found[0]}.{found[1]} is too old: Relay needs git >= 2.31 ({INSTALL_HINT})")
    return f"git {found[0]}.{found[1]}"
