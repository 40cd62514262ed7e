"""``relay up`` as a user runs it: start, paste the printed curl, see the call and the event done, Ctrl-C."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, wait_for
from worker.devtools.supervise.children import Child
from worker.devtools.supervise.embedded import free_port

pytestmark = pytest.mark.integration


def _children(pid: int) -> set[int]:
    """Direct children of ``pid``, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _curl_request(line: str) -> tuple[str, dict[str, str], str]:
    """URL, headers and body of the printed curl command."""
    words = shlex.split(line)
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    body = words[words.index("--data") + 1]
    url = next(word for word in words if word.startswith("http://"))
    return url, headers, body


def test_relay_up_runs_the_walkthrough_and_stops_cleanly(tmp_path: Path) -> None:
    port, sandbox_port = free_port(), free_port()
    out = tmp_path / "up.out"
    env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_")}
    argv = [sys.executable, "-m", "worker.cli", "up", "--port", str(port), "--sandbox-port", str(sandbox_port)]
    up = Child("up", argv, out, {**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path).start()
    try:
        wait_for(lambda: "Ctrl-C stops everything" in out.read_text(), timeout=60, what="relay up to start")
        text = out.read_text()
        children = _children(up.pid)
        assert len(children) == 5, text  # redis, sandbox, receiver, worker, beat
        url, headers, body = _curl_request(next(line for line in text.splitlines() if line.startswith("curl ")))

        answer = httpx.post(url, headers=headers, content=body)

        assert answer.status_code == 202, answer.text
        event_id = answer.json()["event_id"]
        sandbox = f"http://127.0.0.1:{sandbox_port}/_sandbox/requests"
        calls = wait_for(lambda: httpx.get(sandbox).json(), what="the sandbox call")
        assert calls[0]["authenticated"] is True
        assert calls[0]["idempotency_key"].startswith(event_id)

        def shown() -> dict[str, object] | None:
            result = subprocess.run(
                [sys.executable, "-m", "worker.cli", "events", "show", event_id, "--json"],
                cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True,
            )  # fmt: skip
            record: dict[str, object] = json.loads(result.stdout)
            return record if record["status"] == "done" else None

        record = wait_for(shown, what="relay events show to say done")
        assert record["source"] == "demo"
        assert record["type"] == "push"
        # Secrets reach the children through the environment: not in their config file, not on a command line.
        assert "${RELAY_UP_SANDBOX_TOKEN}" in (tmp_path / ".relay" / "up.yaml").read_text()
        assert not any(b"--token" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children)
    finally:
        up.signal(signal.SIGINT)  # Ctrl-C
        returncode = up.wait(60)
    assert returncode == 0, out.read_text()
    assert out.read_text().rstrip().endswith("Relay stopped.")
    wait_for(lambda: not any(_alive(pid) for pid in children), timeout=10, what="every child to exit")


def test_a_second_relay_up_names_what_stands_in_its_way(tmp_path: Path) -> None:
    port, sandbox_port = free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "up.out"

    def second(cwd: Path, *ports: int) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "worker.cli", "up", "--port", str(ports[0]), "--sandbox-port", str(ports[1])]
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)

    argv = [sys.executable, "-m", "worker.cli", "up", "--port", str(port), "--sandbox-port", str(sandbox_port)]
    first = Child("up", argv, out, env, cwd=tmp_path).start()
    try:
        wait_for(lambda: "Ctrl-C stops everything" in out.read_text(), timeout=60, what="relay up to start")
        redis_url = (tmp_path / ".relay" / "redis.url").read_text()

        same_dir = second(tmp_path, free_port(), free_port())
        other = tmp_path / "other"
        other.mkdir()
        same_port = second(other, port, free_port())

        assert same_dir.returncode == 1
        assert f"another relay up holds {tmp_path / '.relay'} (pid {first.pid})" in same_dir.stderr
        assert same_port.returncode == 1
        assert f"port {port} is in use" in same_port.stderr
        # The first instance is untouched: its Redis address is still there for every CLI command.
        assert (tmp_path / ".relay" / "redis.url").read_text() == redis_url
        assert first.running()
    finally:
        first.signal(signal.SIGINT)  # Ctrl-C
        first.wait(60)
