"""``relay up``'s demo: the sandbox target, a signed GitHub source and a rule, overlaid on the user's configuration."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shlex
from pathlib import Path
from typing import Any

import yaml

from worker.config import config_path, parse_config_file

DEMO_SOURCE = "demo"


DEMO_ENV_FILE = "up.env"  # the demo's generated secrets while it runs (0600, deleted on stop)


SANDBOX_TARGET = "sandbox"


DEMO_BODY = {
    "ref": "refs/heads/main",
    "repository": {"full_name": "acme/demo"},
    "head_commit": {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "Hello from relay up"},
}


SECRET_ENV = "RELAY_UP_DEMO_SECRET"  # noqa: S105 (a variable name, not a secret)


TOKEN_ENV = "RELAY_UP_SANDBOX_TOKEN"  # noqa: S105 (a variable name, not a secret)


def demo_overlay() -> dict[str, Any]:
    """Configuration added when none has a target: the sandbox, a demo GitHub source and a rule for every event."""
    return {
        "sources": {DEMO_SOURCE: {"kind": "github", "secret": f"${{{SECRET_ENV}}}"}},
        "targets": {
            SANDBOX_TARGET: {
                "kind": "api7",
                "base_url": "http://127.0.0.1:{port}",
                "token_secret": f"${{{TOKEN_ENV}}}",
            }
        },
        "rules": [
            {
                "name": "sandbox-every-event",
                "on": {"source": "*", "event": "*"},
                "do": [{"call": SANDBOX_TARGET, "method": "GET", "path": "/api/gateway_groups"}],
            }
        ],
    }


def signed_curl(url: str, secret: str, delivery_id: str) -> str:
    """A copy-paste curl that posts the demo push event, signed as GitHub signs (the secret is not shown)."""
    body = json.dumps(DEMO_BODY, separators=(",", ":"))
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    parts = [
        "curl -sS -X POST",
        shlex.quote(url),
        "-H 'Content-Type: application/json'",
        "-H 'X-GitHub-Event: push'",
        f"-H 'X-GitHub-Delivery: {delivery_id}'",
        f"-H 'X-Hub-Signature-256: sha256={signature}'",
        "--data " + shlex.quote(body),
    ]
    return " ".join(parts)


def write_demo_env(data_dir: Path, values: dict[str, str]) -> None:
    """The demo's generated secrets, mode 0600 beside the token key, so CLI commands can read its configuration."""
    path = data_dir / DEMO_ENV_FILE
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in values.items())


def read_demo_env(data_dir: Path) -> dict[str, str]:
    """What ``write_demo_env`` wrote, or nothing."""
    try:
        text = (data_dir / DEMO_ENV_FILE).read_text(encoding="utf-8")
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def write_demo_config(data_dir: Path, sandbox_port: int) -> Path:
    """The user's configuration (references unexpanded) plus the demo overlay, as a file for the children."""
    path = config_path()
    user = parse_config_file(path)
    overlay = demo_overlay()
    overlay["targets"][SANDBOX_TARGET]["base_url"] = f"http://127.0.0.1:{sandbox_port}"
    merged = {
        **user,
        "sources": {**overlay["sources"], **(user.get("sources") or {})},
        "targets": overlay["targets"],
        "rules": [*(user.get("rules") or []), *overlay["rules"]],
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    out = data_dir / "up.yaml"
    out.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    return out
