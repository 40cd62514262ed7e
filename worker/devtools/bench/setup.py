"""The benchmark's configuration file and its admin API token, created at the sandbox and stored like any other."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import yaml

from worker.devtools.bench.sandbox import CALL_PATH
from worker.store.connection import connect
from worker.tokens.keys import parse_keys
from worker.tokens.store import TokenStore

TOKEN_NAME = "bench-token"  # noqa: S105 (a name)
TARGET = "sandbox"
TOKENS_PATH = "/api/settings/tokens"
# The ingest part queues every delivery it posts with no worker running: the cap on waiting events may not answer
# 429 in its place (it is measured elsewhere, not here). A source has no rate limit unless one is set.
_UNLIMITED = {"max_waiting": 10_000_000}


def write_config(path: Path, *, secret: str, sandbox_url: str, data_dir: Path) -> Path:
    """One GitHub source (no rate limit in the way), the sandbox as target, one call per push."""
    config = {
        "data_dir": str(data_dir),
        "sources": {"github": {"kind": "github", "secret": secret, **_UNLIMITED}},
        "targets": {TARGET: {"kind": "api7", "base_url": sandbox_url, "token": TOKEN_NAME}},
        "rules": [
            {
                "name": "bench-call",
                "on": {"source": "github", "event": "push"},
                "do": [{"call": TARGET, "method": "GET", "path": CALL_PATH}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def install_token(sandbox_url: str, bootstrap: str, redis_url: str, token_key: str) -> None:
    """Create a rotatable token at the sandbox (with the bootstrap secret) and put it in Relay's token store."""
    expires_at = int(time.time() + 10 * 86400)
    response = httpx.post(
        f"{sandbox_url}{TOKENS_PATH}",
        json={"name": f"bench-{uuid.uuid4().hex[:8]}", "expires_at": expires_at},
        headers={"X-API-KEY": bootstrap},
        timeout=10,
    )
    response.raise_for_status()
    value = response.json()["value"]
    client = connect(redis_url)
    try:
        store = TokenStore(client, parse_keys(token_key, origin="RELAY_TOKEN_KEY"))
        store.add(TOKEN_NAME, TARGET, value["token"], token_id=value["id"], expires_at=expires_at)
    finally:
        client.close()
