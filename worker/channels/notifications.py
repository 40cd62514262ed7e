"""``Notifications``: the configured channels and one pooled client, owned by whoever sends (the worker's Runtime).

The transport is chosen once, when the object is built (tests hand it an ``httpx.MockTransport``); no call builds
a client of its own. The client is opened on the first send, so a runtime that never notifies opens no pool.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from worker.channels.client import new_client, send_notification
from worker.config import ChannelConfig
from worker.errors import PermanentError


class Notifications:
    """Sends to the configured channels by name over one pooled ``httpx.Client``."""

    def __init__(self, channels: Mapping[str, ChannelConfig], *, transport: httpx.BaseTransport | None = None) -> None:
        self.channels = dict(channels)
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        # Channel configs hold their URLs as secrets already; the names are enough here.
        return f"<{type(self).__name__} {sorted(self.channels)}>"

    def send(
        self,
        channel: str,
        text: str,
        *,
        event: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Post ``text`` to ``channel``; the HTTP status, or a ``TargetError`` free of secrets."""
        config = self.channels.get(channel)
        if config is None:
            raise PermanentError(f"channel {channel!r} is not configured")
        return send_notification(
            config, text, channel=channel, event=event, idempotency_key=idempotency_key, client=self._pool()
        )

    def close(self) -> None:
        """Close the pool (a later send opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Notifications:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _pool(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = new_client(self._transport)
            return self._client
