"""``webhooks.asgi``: every process that serves the receiver logs JSON lines with the configuration's secrets masked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import ROOT, wait_for
from webhooks.signatures import sign_hmac
from worker.devtools.supervise.embedded import free_port
from worker.redaction import MASK

SECRET = "asgi-test-webhook-secret"

IMPORT_AND_LOG = """
import logging, sys
import webhooks.asgi

log = logging.getLogger("relay.webhooks")
log.info("hidden below the configured level")
log.warning("the secret is %s", sys.argv[1])
try:
    raise RuntimeError(sys.argv[1])
except RuntimeError:
    log.exception("failed")
"""


def _environment(tmp_path: Path, config: dict[str, Any]) -> dict[str, str]:
    """This interpreter's environment without RELAY_* variables, pointed at ``config`` written as relay.yaml."""
    path = tmp_path / "relay.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("RELAY_")}
    return {**environment, "RELAY_CONFIG": str(path), "PYTHONPATH": str(ROOT)}


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line as JSON (fails the test on a line that is not)."""
    lines: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON log line: {line!r}") from None
    return lines


def test_importing_the_app_sets_up_json_logging_with_secrets_masked(tmp_path: Path, redis_url: str) -> None:
    config = {"redis_url": redis_url, "log_level": "WARNING", "sources": {"gh": {"kind": "github", "secret": SECRET}}}

    result = subprocess.run(
        [sys.executable, "-c", IMPORT_AND_LOG, SECRET],
        cwd=tmp_path, env=_environment(tmp_path, config), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stderr
    lines = _json_lines(result.stderr)
    assert [line["message"] for line in lines] == [f"the secret is {MASK}", "failed"]
    assert lines[1]["exception"].endswith(f"RuntimeError: {MASK}")


def test_every_worker_process_of_relay_webhooks_logs_json(tmp_path: Path) -> None:
    # Redis is down: a delivery is answered 503, and the worker process that took it logs the failure.
    config = {
        "redis_url": f"redis://127.0.0.1:{free_port()}/0",
        "sources": {"gh": {"kind": "github", "secret": SECRET}},
    }
    port = free_port()
    log = tmp_path / "webhooks.log"
    with log.open("wb") as out:
        # Its own session, so that the supervisor and its workers can be killed together if they linger.
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "webhooks", "--workers", "2", "--port", str(port)],
            cwd=tmp_path, env=_environment(tmp_path, config), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _healthy(url) or process.poll() is not None, timeout=60, what="relay webhooks to start")
        assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        body = b'{"ref": "refs/heads/main"}'
        headers = {
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": sign_hmac(SECRET.encode(), body, "sha256", prefix="sha256="),
        }

        answer = httpx.post(f"{url}/hooks/gh", content=body, headers=headers, timeout=30)

        assert answer.status_code == 503
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    lines = _json_lines(log.read_text(encoding="utf-8", errors="replace"))
    failures = [line for line in lines if line["logger"] == "relay.webhooks"]
    assert [line["level"] for line in failures] == ["error"]
    assert failures[0]["message"].startswith("source gh: event could not be stored")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
