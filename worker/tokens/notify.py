"""Token warnings and alerts: each sent once per marker, to the token channels, and written to the audit list.

A marker is a Redis ``SET NX`` key per token, version, subject and channel, so two checks running at once (two
beats, a beat and ``relay tokens check``) send a warning once between them. A channel that fails gets its marker
back and is tried again by the next check. Warnings are keyed on the version (a new secret starts afresh) and
kept until the token expires; alerts about an expired or refused token expire after a day, so they repeat daily
until fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from worker import channels as _channels
from worker.channels import Notifications, send_notification
from worker.config import ChannelConfig, Settings
from worker.errors import TargetError
from worker.store.keyspace import token_sent_key
from worker.tokens.policy import DAY, rotates, seconds_left
from worker.tokens.records import TokenRecord
from worker.tokens.store import TokenStore

Sender = Callable[[ChannelConfig, str, str], object]

log = logging.getLogger("relay.tokens")


def default_sender(config: ChannelConfig, text: str, key: str) -> object:
    """``send_notification`` over the process's shared client, with the marker as Idempotency-Key."""
    return send_notification(config, text, idempotency_key=key, client=_channels.shared_client())


@dataclass
class Notice:
    """What one notification did: ``first`` when this run claimed it (and wrote the audit entry)."""

    subject: str
    first: bool = False
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def when(timestamp: float | None) -> str:
    """A date for messages."""
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def marker_prefix(record: TokenRecord, subject: str) -> str:
    """The key prefix of a notification's markers."""
    return token_sent_key(record.name, record.version, subject)


class Notifier:
    """Sends token notifications; ``dry_run`` only reports which would go out.

    Through ``notifications`` (the worker's, with its pooled client) when given; otherwise through ``send``, by
    default the process's shared client.
    """

    def __init__(
        self,
        store: TokenStore,
        settings: Settings,
        *,
        send: Sender = default_sender,
        notifications: Notifications | None = None,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.settings = settings
        self.send = send
        self.notifications = notifications
        self.dry_run = dry_run

    @property
    def channels(self) -> dict[str, ChannelConfig]:
        """``tokens.channels``, or every channel when none is named."""
        names = self.settings.tokens.channels or list(self.settings.channels)
        return {name: self.settings.channels[name] for name in names}

    def warn(self, record: TokenRecord, crossed: list[int], now: float) -> Notice:
        """Warn for the smallest threshold reached; larger ones reached at the same time are marked, not sent."""
        left = seconds_left(record.expires_at, now) or 0.0
        ttl = max(DAY, left + DAY)
        smallest, *larger = crossed
        if not self.dry_run:
            for days in larger:
                self._claim_all(record, f"warn-{days}d", ttl)
        text = (
            f"Relay: token {record.name} (target {record.target}) expires in {left / DAY:.1f} days, "
            f"on {when(record.expires_at)}. {self._advice(record)}"
        )
        return self._deliver(record, f"warn-{smallest}d", text, ttl, kind="warning")

    def alert(self, record: TokenRecord, problem: str, text: str) -> Notice:
        """An alert about a broken token, repeated daily until fixed."""
        return self._deliver(record, f"alert-{problem}", text, DAY, kind="alert")

    def once(self, record: TokenRecord, subject: str, text: str, *, kind: str) -> Notice:
        """A one-off notice about this version (a rotation)."""
        return self._deliver(record, subject, text, 30 * DAY, kind=kind)

    def _advice(self, record: TokenRecord) -> str:
        if rotates(record, self.settings):
            return "Relay's automatic rotation has not replaced it yet: see `relay tokens history " + record.name + "`."
        return f"Create a new token in the admin console, then run `relay tokens set {record.name}`."

    def _deliver(self, record: TokenRecord, subject: str, text: str, ttl: float, *, kind: str) -> Notice:
        prefix = marker_prefix(record, subject)
        notice = Notice(subject)
        if self.dry_run:
            notice.first = not self.store.redis.exists(prefix + ":audit")
            return notice
        if self._claim(prefix + ":audit", ttl):
            notice.first = True
            self.store.audit(record.name, kind, text, version=record.version, subject=subject)
            log.warning("%s", text)
        for name, config in self.channels.items():
            key = f"{prefix}:{name}"
            if not self._claim(key, ttl):
                continue
            try:
                self._send(name, config, text, key)
            except TargetError as exc:
                # Give the marker back: the next check tries this channel again.
                self.store.redis.delete(key)
                log.warning("token %s: notifying channel %s failed: %s", record.name, name, exc)
                notice.failed.append(name)
            else:
                notice.sent.append(name)
        return notice

    def _send(self, name: str, config: ChannelConfig, text: str, key: str) -> None:
        if self.notifications is not None:
            self.notifications.send(name, text, idempotency_key=key)
        else:
            self.send(config, text, key)

    def _claim_all(self, record: TokenRecord, subject: str, ttl: float) -> None:
        prefix = marker_prefix(record, subject)
        for suffix in ["audit", *self.channels]:
            self._claim(f"{prefix}:{suffix}", ttl)

    def _claim(self, key: str, ttl: float) -> bool:
        return bool(self.store.redis.set(key, "1", nx=True, ex=max(1, int(ttl))))
