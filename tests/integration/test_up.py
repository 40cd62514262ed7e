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
from worker.gitops.ids import sha1

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
        # Up means up: the sandbox the demo calls answers at once, no waiting on it (the bench relies on this).
        assert httpx.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/health").status_code == 200
        text = out.read_text()
        children = _children(up.pid)
        assert len(children) == 6, text  # redis, git server, sandbox, receiver, worker, beat
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
        generated = dict(line.split("=", 1) for line in (tmp_path / ".relay" / "up.env").read_text().splitlines())
        git_token = generated["RELAY_UP_GIT_TOKEN"]  # the git server's: in no command line, file or output
        assert not any(git_token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children)
        assert git_token not in (tmp_path / ".relay" / "up.yaml").read_text() + text
        _gitops_walkthrough(text, tmp_path, env, sandbox_port)
    finally:
        up.signal(signal.SIGINT)  # Ctrl-C
        returncode = up.wait(60)
    assert returncode == 0, out.read_text()
    assert out.read_text().rstrip().endswith("Relay stopped.")
    wait_for(lambda: not any(_alive(pid) for pid in children), timeout=10, what="every child to exit")


def _gitops_walkthrough(text: str, cwd: Path, env: dict[str, str], sandbox_port: int) -> None:
    """The printed five-minute path: apply the first commit, change the file, commit, push, see the new route."""
    shell = {**env, "PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"}

    def run(line: str) -> str:
        done = subprocess.run(line, shell=True, cwd=cwd, env=shell, capture_output=True, text=True, timeout=60)  # noqa: S602
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def routes() -> set[str]:
        state = httpx.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/gateway_groups/default").json()
        return set(state["resources"].get("routes", {}))

    assert "relay demo push" in text
    run("relay demo push")
    wait_for(lambda: routes() == {sha1("httpbin.get")}, timeout=60, what="the first commit's route in the group")
    work = cwd / ".relay" / "gateway-config"
    demo = work / "gateway" / "demo.yaml"
    demo.write_text(demo.read_text() + "      - name: anything\n        uris: [/anything]\n")
    (commit_line,) = [line.strip() for line in text.splitlines() if line.strip().startswith("git -C")]
    effects = f"http://127.0.0.1:{sandbox_port}/_sandbox/effects"
    httpx.delete(effects).raise_for_status()

    run(commit_line)  # git commit, git push, relay demo push: as printed

    wanted = {sha1("httpbin.get"), sha1("httpbin.anything")}
    wait_for(lambda: routes() == wanted, timeout=60, what="the pushed route in the gateway group")
    written = httpx.get(effects, params={"by": "route"}).json()["counts"]
    assert written == {f"PUT /apisix/admin/routes/{sha1('httpbin.anything')}": 1}  # that route, nothing else
    sha = run(f"git -C {work} rev-parse HEAD").strip()
    status = json.loads(run("relay gitops status --json"))
    assert sha in json.dumps(status)
    curl = run("relay demo push --print")
    assert sha in curl
    assert curl.startswith("curl ")
    assert "token" not in (work / ".git" / "config").read_text().lower()


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
