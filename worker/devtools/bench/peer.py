"""The Go peer: adnanh/webhook (Debian's ``webhook``) checking GitHub's signature and running ``/bin/true``.

It is what a receiver that stores nothing costs: it checks the HMAC with its ``payload-hmac-sha256`` rule, starts the
command and answers, without deduplicating, storing or queueing anything. Run only when installed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

COMMAND = "webhook"
HOOK_ID = "github"  # served at /hooks/github, the path the load generators post to


def available() -> bool:
    """Whether ``webhook`` is on the PATH."""
    return shutil.which(COMMAND) is not None


def write_hooks(path: Path, secret: str) -> Path:
    """A hooks file (readable by its owner only: it holds the secret) for one GitHub hook."""
    hooks = [
        {
            "id": HOOK_ID,
            "execute-command": "/bin/true",
            "response-message": "ok",
            # webhook answers 200 to a delivery its rules refuse unless told otherwise: a refusal must not count.
            "trigger-rule-mismatch-http-response-code": 403,
            "trigger-rule": {
                "match": {
                    "type": "payload-hmac-sha256",
                    "secret": secret,
                    "parameter": {"source": "header", "name": "X-Hub-Signature-256"},
                }
            },
        }
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(hooks, out)
    return path


def argv(hooks: Path, port: int) -> list[str]:
    """The command line serving ``hooks`` on 127.0.0.1:``port`` (not verbose: no log line per request)."""
    return [COMMAND, "-hooks", str(hooks), "-ip", "127.0.0.1", "-port", str(port)]
