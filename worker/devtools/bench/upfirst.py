"""The first event after ``relay up`` says "Relay is up.": how long until the sandbox records its admin API call."""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from worker.devtools.bench import sandbox
from worker.devtools.supervise.embedded import free_port
from worker.waiting import wait_until

UP_LINE = "Relay is up."
_DROPPED_ENV = ("RELAY_CONFIG", "RELAY_REDIS_URL", "RELAY_TOKEN_KEY", "RELAY_DATA_DIR")


def _curl_request(line: str) -> tuple[str, dict[str, str], str]:
    """URL, headers and body of the signed curl line ``relay up`` prints."""
    words = shlex.split(line)
    url = next(w for w in words if w.startswith("http"))
    headers = dict(w.split(": ", 1) for prev, w in itertools.pairwise(words) if prev == "-H")
    return url, headers, words[words.index("--data") + 1]


def _read_until(stdout: object, predicate: str, deadline: float) -> tuple[str, float]:
    assert hasattr(stdout, "readline")

    def printed() -> tuple[str, float] | None:
        line: str = stdout.readline()
        if not line:
            raise TimeoutError(f"relay up did not print {predicate!r}")
        return (line, time.time()) if predicate in line else None

    what = f"relay up printing {predicate!r}"
    return wait_until(printed, timeout=deadline - time.monotonic(), what=what, interval=0.0)


def first_event_seconds(work_dir: Path, *, timeout: float = 60) -> dict[str, float]:
    """Start ``relay up`` (demo mode, its own Redis and sandbox), post its example at once, time the first call.

    Also how long ``relay up`` took to say it is up, so that a shorter first figure is not hidden in the second.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    port, sandbox_port = free_port(), free_port()
    argv = [sys.executable, "-m", "worker.cli", "up", "--data-dir", str(work_dir / "data")]
    argv += ["--port", str(port), "--sandbox-port", str(sandbox_port)]
    started = time.time()
    process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
        argv, cwd=work_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        _, up_at = _read_until(process.stdout, UP_LINE, deadline)
        curl, _ = _read_until(process.stdout, "curl ", deadline)
        url, headers, body = _curl_request(curl)
        httpx.post(url, headers=headers, content=body, timeout=10).raise_for_status()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        wait_until(lambda: bool(sandbox.calls(sandbox_url)), timeout=timeout, what="the first admin API call")
        first = sandbox.calls(sandbox_url)[0].time
        return {"first_event_seconds": first - up_at, "up_seconds": up_at - started}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
