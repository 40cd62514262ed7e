"""One signed GitHub delivery as a fault run posts it, and what the sender saw of it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx

from worker.devtools.chaos.timeline import Posted


def post_delivery(client: httpx.Client, url: str, secret: str, payload: Any, *, event: str = "push") -> Posted:
    """POST ``payload`` as a GitHub ``event`` delivery signed with ``secret``; a transport error is a None status."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    at = time.time()
    try:
        answer = client.post(url, content=body, headers=headers)
        event_id = answer.json().get("event_id") if answer.status_code == 202 else None
    except (httpx.HTTPError, ValueError):
        return Posted(at, None)
    return Posted(at, answer.status_code, event_id)
