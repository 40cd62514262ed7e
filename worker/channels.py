"""Notification channels: each kind gets the body its API expects."""

from __future__ import annotations

from typing import Any

import httpx

from worker.errors import PermanentError, RetryableError
from worker.settings import ChannelConfig


def notification_body(config: ChannelConfig, text: str) -> dict[str, Any]:
    """The JSON body for ``text`` in the channel kind's format."""
    if config.kind == "slack":
        return {"text": text}
    return {"text": text}


def send_notification(
    config: ChannelConfig,
    text: str,
    *,
    idempotency_key: str | None = None,
    client: httpx.Client | None = None,
) -> int:
    """Post ``text`` to the channel; returns the HTTP status or raises a ``TargetError``."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    http = client or httpx.Client(timeout=config.timeout)
    try:
        response = http.post(config.url.get_secret_value(), json=notification_body(config, text), headers=headers)
    except httpx.HTTPError as exc:
        raise RetryableError(f"channel ({config.kind}) unreachable: {type(exc).__name__}") from None
    finally:
        if client is None:
            http.close()
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"channel ({config.kind}) answered {response.status_code}", status_code=429)
    if response.status_code >= 400:
        raise PermanentError(f"channel ({config.kind}) answered {response.status_code}")
    return response.status_code
