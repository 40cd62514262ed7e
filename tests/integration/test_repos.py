"""Reading a repository on real parts: Redis' token store, a git server (``git http-backend``) that demands the
token, and ``relay repos read`` as its own process; the token shows up nowhere it must not."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from cryptography.fernet import Fernet

from tests.integration.support import redis_dump
from tests.support import ROOT
from tests.worker.repos.support import GIT_TOKEN, Origin
from worker.config import Settings
from worker.devtools.sandbox.gitserver import GitServer
from worker.tokens.keys import parse_keys
from worker.tokens.records import TokenStatus
from worker.tokens.store import TokenStore

pytestmark = pytest.mark.integration

KEY = Fernet.generate_key().decode()


@pytest.fixture
def server(git_origin_server: GitServer) -> GitServer:
    """The git server serving ``origin`` (tests/conftest.py)."""
    return git_origin_server


def secret_forms(secret: str, user: str) -> list[bytes]:
    """The token as it could leak: clear, Basic-encoded with and without the user, URL-encoded."""
    forms = {
        secret,
        base64.b64encode(f"{user}:{secret}".encode()).decode(),
        base64.b64encode(secret.encode()).decode(),
        quote(secret, safe=""),
    }
    return [form.encode() for form in forms]


def leaks(blob: bytes, forms: list[bytes]) -> bool:
    """Whether ``blob`` holds any form of the token."""
    return any(form in blob for form in forms)


class ProcessWatch:
    """Reads every process's command line (``/proc/*/cmdline``, what ``ps`` shows to any user) until stopped."""

    def __init__(self, forms: list[bytes]) -> None:
        self.forms = forms
        self.leaked: list[str] = []
        self.git_seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if b"git" in cmdline and (b"fetch" in cmdline or b"remote-http" in cmdline):
                    self.git_seen.add(cmdline.split(b"\x00")[1].decode(errors="replace") if b"\x00" in cmdline else "")
                if leaks(cmdline, self.forms):
                    self.leaked.append(cmdline.replace(b"\x00", b" ").decode(errors="replace"))


@pytest.fixture
def configured(
    write_config: Callable[[dict[str, Any]], Settings],
    redis_url: str,
    server: GitServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    monkeypatch.setenv("RELAY_TOKEN_KEY", KEY)
    monkeypatch.setenv("RELAY_LOG_LEVEL", "DEBUG")
    return write_config(
        {
            "data_dir": str(tmp_path / "data"),
            "targets": {"forge": {"kind": "bearer", "base_url": server.url, "token": "git-bot"}},
            "repos": {"payments": {"url": f"{server.url}/payments.git", "token": "git-bot", "forge": "gitlab"}},
        }
    )


def relay(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``relay <args>`` as its own process, with this test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], cwd=ROOT, env=dict(os.environ), capture_output=True, timeout=120
    )


def test_a_file_is_read_at_a_commit_and_the_token_leaks_nowhere(
    configured: Settings, origin: Origin, server: GitServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    store = TokenStore(redis_client, parse_keys(KEY, origin="RELAY_TOKEN_KEY"))
    store.add("git-bot", "forge", GIT_TOKEN)
    first = origin.commit({"relay/adc.yaml": "services: [payments]\n", "README.md": "x"})
    origin.commit({"relay/adc.yaml": "services: []\n"})
    forms = secret_forms(GIT_TOKEN, configured.repos["payments"].user)
    server.state.latency_seconds = 0.3  # slow enough that the watcher sees git's processes mid-fetch

    with ProcessWatch(forms) as watch:
        result = relay("repos", "read", "payments", first, "relay/*.yaml", "--json")

    assert result.returncode == 0, result.stderr.decode()
    answer = json.loads(result.stdout)
    assert answer["sha"] == first
    assert [file["path"] for file in answer["files"]] == ["relay/adc.yaml"]
    assert answer["files"][0]["bytes"] == len("services: [payments]\n")
    assert watch.git_seen, "the watcher never saw git fetching: it proves nothing"
    assert watch.leaked == []
    assert not leaks(result.stdout + result.stderr, forms)
    cache = tmp_path / "data" / "repos"
    for path in cache.rglob("*"):
        if path.is_file():
            assert not leaks(path.read_bytes(), forms), path
    assert not leaks(redis_dump(redis_client), forms)
    cat = relay("repos", "read", "payments", first, "relay/adc.yaml", "--cat", "relay/adc.yaml")
    assert cat.stdout == b"services: [payments]\n"


def test_a_token_the_server_refuses_is_marked_invalid_in_the_store(
    configured: Settings, origin: Origin, redis_client: redis.Redis
) -> None:
    store = TokenStore(redis_client, parse_keys(KEY, origin="RELAY_TOKEN_KEY"))
    store.add("git-bot", "forge", "glpat-revoked-long-ago-000000000000")
    sha = origin.commit({"adc.yaml": "v: 1\n"})

    result = relay("repos", "read", "payments", sha, "adc.yaml")

    assert result.returncode == 1
    assert b"refused the token (401)" in result.stderr
    record = store.get("git-bot")
    assert record.status == TokenStatus.INVALID
    assert "relay tokens set git-bot" in store.history("git-bot")[0].message
