"""Rotating a token through its target kind's API (API7's regenerate, GitLab's self/rotate: ``KINDS[kind].rotate``),
which kills the old secret the moment it succeeds.

The protocol, per token, under its Redis lock (one rotation at a time across every process):

1. re-read the record under the lock (another process may have rotated it already) and mark it ``rotating``;
2. call the kind's rotation once, with the secret the store holds (GitLab punishes a second call with the old secret
   by revoking the whole token family, gitlab-org/gitlab#524639);
3. on an answer: store the new secret (new version, and the new token id) before anything else, then audit and
   notify;
4. when the answer is lost (timeout, connection reset, 5xx, a body without the secret) regenerate is NOT sent again:
   the old secret is probed for a while (the server may still be acting on the request). Refused: the new secret
   is gone, so the token is marked ``invalid`` and operators get the exact recovery steps. Still working at the end
   of the window: the rotation did not happen; the token is back to ``ok`` and the next check tries again.

A process that dies mid-rotation leaves ``rotating`` behind with no lock held; ``recover_stale`` (run by each
check) settles it the same way as a lost answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx
from pydantic import SecretStr

from worker.config import Settings
from worker.errors import AuthError, StoreError, TargetError
from worker.store.locks import release_quietly, rotation_lock
from worker.targets.tokens import Credential
from worker.tokens import admin
from worker.tokens.notify import Notifier, when
from worker.tokens.policy import DAY, rotation_refusal
from worker.tokens.records import Origin, TokenRecord, TokenStatus
from worker.tokens.store import KEEP, TokenStore
from worker.waiting import poll

log = logging.getLogger("relay.tokens")


class RotationOutcome(StrEnum):
    """How a rotation ended."""

    ROTATED = "rotated"
    BUSY = "busy"  # another process holds the lock
    ALREADY = "already"  # the version moved on meanwhile: someone else rotated
    NOT_ROTATED = "not-rotated"  # a definite refusal, or a lost answer after which the old secret still works
    INVALID = "invalid"  # the old secret is refused: operators must install a new one
    UNKNOWN = "unknown"  # the admin API could not be reached to tell
    REFUSED = "refused"  # Relay may not rotate this token (policy, kind, no token id)


@dataclass(frozen=True)
class Rotation:
    """The result of one rotation attempt; ``secret`` only when the API generated one (for ``--show-secret``)."""

    name: str
    outcome: RotationOutcome
    message: str
    version: int | None = None
    secret: SecretStr | None = None


def recovery_steps(record: TokenRecord, console: str | None = None) -> str:
    """What an operator does when the token's secret is lost or refused; ``console``: the target kind's own steps."""
    where = f"regenerate token {record.token_id} there" if record.token_id else "create a new token"
    first = (
        console.format(target=record.target)
        if console
        else f"in the admin console of target {record.target} (API7: Settings > Tokens), {where} "
        f"or create a new token for the automation account"
    )
    return (
        f"To recover: 1) {first}, and copy its secret; "
        f"2) run `relay tokens set {record.name}` (with --token-id NEW_ID if it is a new token) and paste it; "
        f"3) run `relay tokens check {record.name}`. Until then calls to {record.target} fail."
    )


def default_settle_seconds(settings: Settings) -> float:
    """How long a lost regenerate is watched: a quarter of the lock time, at most 30 s."""
    return max(1.0, min(30.0, settings.tokens.lock_seconds / 4))


class Rotator:
    """Runs the rotation protocol for tokens of targets whose kind can rotate (API7, GitLab)."""

    def __init__(
        self,
        store: TokenStore,
        settings: Settings,
        notifier: Notifier,
        *,
        transport: httpx.BaseTransport | None = None,
        settle_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.settings = settings
        self.notifier = notifier
        self.transport = transport
        self.settle_seconds = default_settle_seconds(settings) if settle_seconds is None else settle_seconds
        self.clock = clock
        self.sleep = sleep

    def rotate(self, name: str, *, reason: str, expected_version: int | None = None) -> Rotation:
        """Rotate ``name`` now unless another process is at it or it moved past ``expected_version``."""
        record = self.store.get(name)
        refusal = rotation_refusal(record, self.settings)
        if refusal:
            return Rotation(name, RotationOutcome.REFUSED, refusal, record.version)
        lock = rotation_lock(self.store.redis, name, self.settings.tokens.lock_seconds)
        if not lock.acquire():
            return Rotation(name, RotationOutcome.BUSY, "another rotation of this token is running", record.version)
        try:
            return self._rotate_locked(name, reason, expected_version)
        finally:
            if not release_quietly(lock):
                log.warning("token %s: the rotation outlived its lock (raise tokens.lock_seconds)", name)

    def recover_stale(self, name: str) -> Rotation | None:
        """Settle a ``rotating`` left by a process that died mid-rotation (no lock held); None if nothing to do."""
        lock = rotation_lock(self.store.redis, name, self.settings.tokens.lock_seconds)
        if not lock.acquire():
            return None
        try:
            record = self.store.get(name)
            if record.status != TokenStatus.ROTATING:
                return None
            return self._settle_interrupted(record)
        finally:
            release_quietly(lock)

    def _settle_interrupted(self, record: TokenRecord) -> Rotation:
        self.store.audit(record.name, "rotation-interrupted", "a rotation did not finish; checking the secret")
        return self._settle(record, self.store.credential(record.name), settle=0.0)

    def _rotate_locked(self, name: str, reason: str, expected_version: int | None) -> Rotation:
        record = self.store.get(name)
        if expected_version is not None and record.version != expected_version:
            return Rotation(name, RotationOutcome.ALREADY, f"already at version {record.version}", record.version)
        if record.status == TokenStatus.ROTATING:
            # An earlier rotation died or outlived its lock: its regenerate may have happened, so the secret in the
            # store may be dead. Settle that first; never regenerate on top of it.
            return self._settle_interrupted(record)
        started = time.monotonic()
        target = self.settings.targets[record.target]
        credential = self.store.credential(name)
        expires_at = int(self.clock() + self.settings.tokens.rotate.new_lifetime_days * DAY)
        self.store.set_status(name, TokenStatus.ROTATING, f"rotating: {reason}")
        self.store.audit(name, "rotation-started", reason, version=record.version)
        try:
            with admin.client_for(record.target, target, credential, self.transport) as client:
                issued = admin.rotate(client, record.token_id, expires_at, now=self.clock())
        except TargetError as exc:
            # Watch a lost answer only while the lock is surely still ours (a second past its end at the latest).
            left = self.settings.tokens.lock_seconds - (time.monotonic() - started) - 1
            return self._failed(record, credential, exc, settle=min(self.settle_seconds, max(0.0, left)))
        except ValueError as exc:
            # Refused before sending (an invalid token id): nothing happened at the API.
            return self._restore(record, f"rotation not attempted: {exc}")
        assert issued.token is not None  # each kind's rotate raises when the answer holds no secret
        # Until a second before the lock runs out: past it another rotation could start on the old secret.
        deadline = started + self.settings.tokens.lock_seconds - 1
        new = self._install(name, issued.token, issued.expires_at, issued.id, deadline=deadline)
        message = (
            f"rotated to version {new.version} (fingerprint {new.fingerprint}), "
            f"expires {when(new.expires_at) if new.expires_at else 'never'}"
        )
        self.store.audit(name, "rotated", message, version=new.version, reason=reason)
        self.notifier.once(new, "rotated", f"Relay: token {name} (target {new.target}) {message}.", kind="rotation")
        log.info("token %s: %s", name, message)
        return Rotation(name, RotationOutcome.ROTATED, message, new.version, issued.token)

    def _install(self, name: str, secret: SecretStr, expires_at: int, token_id: str, *, deadline: float) -> TokenRecord:
        # The secret exists nowhere else: Redis restarting (seconds, not a hiccup) must not lose it, so keep trying
        # while the lock is ours. The id goes with it (GitLab's rotation issues a new one).
        failures: list[StoreError] = []

        def stored() -> TokenRecord | None:
            try:
                return self.store.install(
                    name, secret.get_secret_value(), origin=Origin.ROTATION, rotated=True, expires_at=expires_at,
                    token_id=token_id or KEEP,
                )  # fmt: skip
            except StoreError as exc:
                failures.append(exc)
                return None

        left = max(0.0, deadline - time.monotonic())
        record = poll(stored, timeout=left, interval=0.2, max_interval=1.0, sleep=self.sleep)
        if record is None:
            raise failures[-1]
        return record

    def _failed(self, record: TokenRecord, credential: Credential, exc: TargetError, *, settle: float) -> Rotation:
        if admin.answer_lost(exc):
            self.store.audit(
                record.name, "rotation-lost", f"regenerate answer lost ({exc}); not retrying, checking the old secret",
                version=record.version,
            )  # fmt: skip
            return self._settle(record, credential, settle=settle)
        if isinstance(exc, AuthError) and exc.status_code == 401:
            return self._invalid(record, f"the admin API refused the secret ({exc})")
        return self._restore(record, f"regenerate refused: {exc}")

    def _settle(self, record: TokenRecord, credential: Credential, *, settle: float) -> Rotation:
        """Probe the old secret until it is refused or the window ends; decide from the last answer."""
        target = self.settings.targets[record.target]
        answers: list[admin.Probe] = []

        def refused() -> bool:
            answers.append(admin.probe(client, record.token_id)[0])
            return answers[-1] == admin.Probe.REFUSED

        with admin.client_for(record.target, target, credential, self.transport) as client:
            if poll(refused, timeout=settle, interval=0.2, max_interval=2.0, sleep=self.sleep):
                return self._invalid(record, "a rotation whose answer was lost replaced the secret")
        if answers[-1] == admin.Probe.WORKS:
            return self._restore(record, "the rotation did not happen (the old secret still works); next check retries")
        text = (
            f"Relay: rotating token {record.name} (target {record.target}) lost its answer and the admin API cannot "
            "be reached to tell whether the secret changed. Relay checks again at the next run. "
            + recovery_steps(record, self._console(record))
        )
        self.store.set_status(record.name, TokenStatus.ROTATING, "outcome unknown: admin API unreachable")
        self.notifier.alert(record, "rotation-unknown", text)
        return Rotation(record.name, RotationOutcome.UNKNOWN, "outcome unknown: admin API unreachable", record.version)

    def _console(self, record: TokenRecord) -> str | None:
        target = self.settings.targets.get(record.target)
        return admin.console(target.kind) if target is not None and target.kind != "api7" else None

    def _restore(self, record: TokenRecord, message: str) -> Rotation:
        status = record.status if record.status != TokenStatus.ROTATING else TokenStatus.OK
        self.store.set_status(record.name, status, message, expected_version=record.version)
        self.store.audit(record.name, "rotation-failed", message, version=record.version)
        log.warning("token %s: %s", record.name, message)
        return Rotation(record.name, RotationOutcome.NOT_ROTATED, message, record.version)

    def _invalid(self, record: TokenRecord, why: str) -> Rotation:
        self.store.set_status(record.name, TokenStatus.INVALID, why, expected_version=record.version)
        text = f"Relay: token {record.name} (target {record.target}) is no longer valid: {why}. " + recovery_steps(
            record, self._console(record)
        )
        self.store.audit(record.name, "invalid", why, version=record.version)
        self.notifier.alert(record, "invalid", text)
        log.error("%s", text)
        return Rotation(record.name, RotationOutcome.INVALID, why, record.version)
