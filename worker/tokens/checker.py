"""The token check, run by beat (``relay.check_tokens``) and by ``relay tokens check``.

For each token: settle a rotation a dead process left behind; confirm the secret works with one cheap
authenticated call and read its expiry where the admin API tells it (API7 with a token id); rotate when the policy
says so and the target allows it; then send the warnings and alerts now due, and set the expiry gauge. Everything
is safe to run twice or concurrently: rotations take the token's lock, notifications claim markers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from worker.channels import Notifications
from worker.config import Settings, TargetConfig
from worker.errors import AuthError, RelayError, TargetError
from worker.targets.tokens import Credential
from worker.tokens import admin, github_app, metrics
from worker.tokens.notify import Notifier, Sender, default_sender, when
from worker.tokens.policy import (
    Decision,
    TokenAction,
    crossed_thresholds,
    display_status,
    rotation_decision,
    rotation_refusal,
    seconds_left,
)
from worker.tokens.records import TokenRecord, TokenStatus
from worker.tokens.rotation import Rotator, recovery_steps
from worker.tokens.store import TokenStore

log = logging.getLogger("relay.tokens")


@dataclass
class CheckReport:
    """What a check found and did for one token (``actions`` in plain words, for the CLI and the task log)."""

    name: str
    target: str
    status: TokenStatus
    version: int
    expires_at: int | None
    seconds_left: float | None
    actions: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "target": self.target,
            "status": str(self.status),
            "version": self.version,
            "expires_at": self.expires_at,
            "seconds_left": self.seconds_left,
            "actions": self.actions,
            "error": self.error,
        }


class TokenChecker:
    """Checks tokens; with ``dry_run`` it reads (the store and the admin API) but changes and sends nothing."""

    def __init__(
        self,
        store: TokenStore,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        send: Sender = default_sender,
        notifications: Notifications | None = None,
        dry_run: bool = False,
        settle_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.settings = settings
        self.transport = transport
        self.dry_run = dry_run
        self.clock = clock
        self.notifier = Notifier(store, settings, send=send, notifications=notifications, dry_run=dry_run)
        self.rotator = Rotator(
            store, settings, self.notifier, transport=transport, settle_seconds=settle_seconds, clock=clock, sleep=sleep
        )

    def check_all(self) -> list[CheckReport]:
        """Check every token in the store (seeding configured ones first); one failure does not stop the rest."""
        if not self.dry_run:
            self.store.seed_all()
        return [self.check_safely(name) for name in self.store.names()]

    def check_safely(self, name: str) -> CheckReport:
        """``check`` that reports an error instead of raising it."""
        try:
            return self.check(name)
        except (RelayError, redis.RedisError) as exc:
            log.error("token %s: check failed: %s", name, exc)
            record = self.store.find(name)
            if record is None:
                return CheckReport(name, "?", TokenStatus.INVALID, 0, None, None, error=str(exc))
            return self._report(record, self.clock(), [], error=str(exc))

    def check(self, name: str) -> CheckReport:
        """Check one token now."""
        actions: list[str] = []
        record = self.store.get(name)
        if record.status == TokenStatus.ROTATING:
            if self.store.rotation_running(name):
                actions.append("a rotation is running")
                return self._report(record, self.clock(), actions)
            record = self._recover(record, actions)
        if record.status != TokenStatus.ROTATING:
            record = self._probe(record, actions)
        now = self.clock()
        decision = self._decide(record, now)
        refusal = rotation_refusal(record, self.settings)
        if decision.action == TokenAction.ROTATE and record.status not in (TokenStatus.INVALID, TokenStatus.ROTATING):
            if refusal is not None:
                actions.append(f"rotation due ({decision.reason}), but {refusal}")
            elif self.dry_run:
                actions.append(f"would rotate: {decision.reason}")
            else:
                rotation = self.rotator.rotate(name, reason=decision.reason, expected_version=record.version)
                actions.append(f"rotation {rotation.outcome}: {rotation.message}")
                record, now = self.store.get(name), self.clock()
                decision = self._decide(record, now)
        status = display_status(
            record.status, record.expires_at, now, self.settings.tokens.warn_days,
            auto_rotates=refusal is None, rotation_due=decision.action == TokenAction.ROTATE,
        )  # fmt: skip
        self._notify(record, status, now, actions)
        if not self.dry_run:
            saved = self.store.update(name, expected_version=record.version, unless_rotating=True, status=status,
                                      checked_at=now)  # fmt: skip
            record = saved or record
            metrics.observe(record, now)
        record.status = status
        return self._report(record, now, actions)

    def _decide(self, record: TokenRecord, now: float) -> Decision:
        return rotation_decision(
            issued_at=record.issued_at, expires_at=record.expires_at, now=now, policy=self.settings.tokens.rotate
        )

    def _recover(self, record: TokenRecord, actions: list[str]) -> TokenRecord:
        if self.dry_run:
            actions.append("would settle an interrupted rotation")
            return record
        rotation = self.rotator.recover_stale(record.name)
        if rotation is not None:
            actions.append(f"interrupted rotation settled: {rotation.outcome}: {rotation.message}")
        return self.store.get(record.name)

    def _probe(self, record: TokenRecord, actions: list[str]) -> TokenRecord:
        """Confirm the secret works and refresh the expiry from the admin API; the record as it now stands."""
        target = self.settings.targets.get(record.target)
        if target is None:
            actions.append(f"target {record.target!r} is not configured: secret not checked")
            return record
        credential = self.store.credential(record.name)
        if target.app_id is not None:
            return self._probe_app(record, target, credential, actions)
        with admin.client_for(record.target, target, credential, self.transport) as client:
            result, api_token = admin.probe(client, record.token_id)
        if result == admin.Probe.UNKNOWN:
            actions.append("secret not confirmed (admin API unreachable, or no cheap check for this kind)")
            return record
        if result == admin.Probe.REFUSED:
            return self._refused(record, actions)
        return self._works(record, api_token, actions)

    def _probe_app(self, record: TokenRecord, target: TargetConfig, key: Credential, actions: list[str]) -> TokenRecord:
        """A GitHub App's key works when GitHub mints an installation token with it (the token is dropped)."""
        try:
            github_app.mint(record.target, target, key, now=self.clock(), transport=self.transport)
        except AuthError as exc:
            if exc.refused:
                return self._refused(record, actions)
            actions.append(f"the App key works, but the installation refuses it ({exc.status_code})")
            return record
        except TargetError:
            actions.append("secret not confirmed (GitHub unreachable)")
            return record
        return self._works(record, None, actions)

    def _refused(self, record: TokenRecord, actions: list[str]) -> TokenRecord:
        """The admin API refuses the secret: mark exactly this version invalid (unless a dry run)."""
        actions.append("the admin API refuses the secret")
        if self.dry_run or record.status == TokenStatus.INVALID:
            record.status = TokenStatus.INVALID
            return record
        marked = self.store.set_status(
            record.name, TokenStatus.INVALID, "refused by the admin API", expected_version=record.version
        )
        if marked is None:
            actions.append("the secret changed during the check: not marked invalid")
            return self.store.get(record.name)
        self.store.audit(record.name, "invalid", "the admin API refuses the secret", version=record.version)
        return marked

    def _works(self, record: TokenRecord, api_token: Any, actions: list[str]) -> TokenRecord:
        """The secret works: clear an invalid mark and take the admin API's expiry."""
        changes: dict[str, Any] = {}
        if record.status == TokenStatus.INVALID:
            actions.append("the secret works again")
            changes.update(status=TokenStatus.OK, status_reason="")
        if api_token is not None and api_token.expires_at != record.expires_at:
            expiry = when(api_token.expires_at) if api_token.expires_at else "never"
            actions.append(f"expiry from the admin API: {expiry}")
            changes["expires_at"] = api_token.expires_at
        if not changes or self.dry_run:
            for key, value in changes.items():
                setattr(record, key, value)
            return record
        updated = self.store.update(record.name, expected_version=record.version, **changes)
        if record.status == TokenStatus.INVALID:
            self.store.audit(record.name, "recovered", "the admin API accepts the secret again", version=record.version)
        return updated or self.store.get(record.name)

    def _notify(self, record: TokenRecord, status: TokenStatus, now: float, actions: list[str]) -> None:
        verb = "would send" if self.dry_run else "sent"
        if status == TokenStatus.WARN:
            crossed = crossed_thresholds(record.expires_at, now, self.settings.tokens.warn_days)
            if crossed and self.notifier.warn(record, crossed, now).first:
                actions.append(f"{verb} the {crossed[0]}-day warning")
        elif status == TokenStatus.EXPIRED:
            text = (
                f"Relay: token {record.name} (target {record.target}) expired on {when(record.expires_at)}. "
                + recovery_steps(record)
            )
            if self.notifier.alert(record, "expired", text).first:
                actions.append(f"{verb} the expired alert (repeated daily)")
        elif status == TokenStatus.INVALID:
            reason = record.status_reason or "refused by the admin API"
            text = (
                f"Relay: token {record.name} (target {record.target}) is no longer valid: {reason}. "
                + recovery_steps(record)
            )
            if self.notifier.alert(record, "invalid", text).first:
                actions.append(f"{verb} the invalid-token alert (repeated daily)")

    def _report(self, record: TokenRecord, now: float, actions: list[str], error: str | None = None) -> CheckReport:
        return CheckReport(
            name=record.name,
            target=record.target,
            status=record.status,
            version=record.version,
            expires_at=record.expires_at,
            seconds_left=seconds_left(record.expires_at, now),
            actions=actions,
            error=error,
        )
