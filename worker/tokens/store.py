"""The token store: one Redis hash per token, the secret in it encrypted with Fernet, and an audit list.

Keys (the names are checked to hold no ':' or glob characters):

    relay:tokens                          set: every token name
    relay:token:<name>                    hash: the record (``records.record_fields``) plus ``secret``, encrypted
    relay:token:<name>:history            list: audit entries, newest first, capped at HISTORY_LIMIT
    relay:token:<name>:sent:<...>         strings: "already notified" markers (``worker.tokens.notify``)
    relay:lock:token:<name>               the rotation lock (``worker.store.locks``)

It is the workers' ``TokenSource``: ``current`` costs one HMGET and decrypts only when the stored ciphertext changed,
so a worker that meets a 401 and asks again sees a rotation at once. While a rotation is under way (status
``rotating`` and its lock held) ``current`` waits for it, briefly, instead of handing out a secret about to die.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

import redis
from pydantic import SecretStr
from redis.exceptions import WatchError

from worker.config import Settings
from worker.errors import StoreError, TokenError
from worker.ops import stats
from worker.ops.logs import register_secret
from worker.store.keyspace import (
    ROTATION_LOCK,
    TOKEN_HEAD_FIELDS,
    TOKEN_KEY,
    TOKENS_KEY,
    TokenHead,
    token_history_key,
)
from worker.targets.tokens import Credential
from worker.tokens.keys import Cipher, fingerprint
from worker.tokens.records import (
    AuditEntry,
    Origin,
    TokenRecord,
    TokenStatus,
    check_name,
    parse_record,
    record_fields,
)
from worker.waiting import poll

INDEX_KEY = TOKENS_KEY
_primed: ContextVar[dict[str, TokenHead] | None] = ContextVar("relay_primed_token_heads", default=None)
HISTORY_LIMIT = 200
SECRET_FIELD = "secret"  # noqa: S105 (a field name)

log = logging.getLogger("relay.tokens")

Change = Callable[[TokenRecord | None], tuple[TokenRecord, bytes | None] | None]


class _Keep:
    """Marks an argument left unchanged."""


KEEP: Any = _Keep()


@dataclass(frozen=True)
class Seed:
    """A target's ``token_secret``: what the store starts from when it has no record of the token."""

    target: str
    secret: SecretStr


def seeds_from_settings(settings: Settings) -> dict[str, Seed]:
    """Token name to its configured seed (the first target naming the token wins)."""
    seeds: dict[str, Seed] = {}
    for target, config in settings.targets.items():
        if config.token_secret is not None:
            seeds.setdefault(settings.token_names[target], Seed(target, config.token_secret))
    return seeds


# Audit kinds that are also counted on /metrics: (family, outcome) for ``worker.ops.stats.record_token``.
_COUNTED = {
    "rotated": ("rotation", "rotated"),
    "rotation-failed": ("rotation", "failed"),
    "rotation-interrupted": ("rotation", "interrupted"),
    "warning": ("warning", "sent"),
    "alert": ("warning", "alert"),
}


def history_key(name: str) -> str:
    """The audit list of a token."""
    return token_history_key(name)


class TokenStore:
    """Tokens in Redis; ``cipher`` may be a factory, so reading metadata works without the key."""

    def __init__(
        self,
        client: redis.Redis,
        cipher: Cipher | Callable[[], Cipher],
        *,
        seeds: Mapping[str, Seed] | None = None,
        clock: Callable[[], float] = time.time,
        rotation_wait_seconds: float = 10.0,
    ) -> None:
        self.redis = client
        self._cipher_source = cipher
        self._cipher: Cipher | None = cipher if isinstance(cipher, Cipher) else None
        self.seeds = dict(seeds or {})
        self.clock = clock
        self.rotation_wait_seconds = rotation_wait_seconds
        # Keyed by the ciphertext, not the version: a token removed and added again (or re-seeded) starts over at
        # version 1 with another secret. Fernet encrypts with a random IV, so new ciphertext means a new write, and
        # the same ciphertext can only hold the same secret.
        self._cache: dict[str, tuple[bytes, Credential]] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self.seeds)} seeds>"

    @property
    def cipher(self) -> Cipher:
        """The cipher, loaded on first use (``TokenError`` naming RELAY_TOKEN_KEY when there is none)."""
        if self._cipher is None:
            assert not isinstance(self._cipher_source, Cipher)
            self._cipher = self._cipher_source()
        return self._cipher

    # Reading

    def find(self, name: str) -> TokenRecord | None:
        """The record, or None."""
        fields = _call(self.redis.hgetall, TOKEN_KEY + check_name(name))
        return parse_record(fields) if fields else None

    def get(self, name: str) -> TokenRecord:
        """The record, or ``TokenError``."""
        record = self.find(name)
        if record is None:
            raise TokenError(f"no token named {name!r} (see `relay tokens list`)")
        return record

    def names(self) -> list[str]:
        """Every token name, sorted."""
        return sorted(raw.decode() for raw in _call(self.redis.smembers, INDEX_KEY))

    def all(self) -> list[TokenRecord]:
        """Every record, by name."""
        with self.redis.pipeline(transaction=False) as pipe:
            for name in self.names():
                pipe.hgetall(TOKEN_KEY + name)
            results = _call(pipe.execute)
        return [parse_record(fields) for fields in results if fields]

    def credential(self, name: str) -> Credential:
        """The current secret read and decrypted now (no cache, no waiting)."""
        version, secret, _ = self._head(name)
        if version is None or secret is None:
            raise TokenError(f"no token named {name!r} in the token store")
        return self._decrypt(name, version, secret)

    def current(self, name: str) -> Credential:
        """``TokenSource``: the newest credential; waits (bounded) while a rotation of the token runs."""
        primed = _primed.get()
        head = primed.pop(name, None) if primed is not None else None
        version, secret, status = _parse_head(head) if head is not None else self._head(name)
        if version is None and name in self.seeds:
            self.seed(name)
            version, secret, status = self._head(name)
        if version is None or secret is None:
            raise TokenError(f"token {name!r}: no secret stored or configured")
        if status == TokenStatus.ROTATING:
            version, secret = self._wait_for_rotation(name, version, secret)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == secret and cached[1].version == version:
            return cached[1]
        return self._decrypt(name, version, secret)

    @contextlib.contextmanager
    def primed(self, heads: Mapping[str, TokenHead]) -> Iterator[None]:
        """Within the block, the first ``current(name)`` of each name uses ``heads[name]`` instead of reading it.

        An event run reads its tokens' heads in its start script, a moment before its first call; any later read
        (a 401's re-read, another call, a wait on a rotation) reads Redis again, so a rotation is seen at once.
        """
        reset = _primed.set(dict(heads))
        try:
            yield
        finally:
            _primed.reset(reset)

    def rotation_running(self, name: str) -> bool:
        """Whether some process holds the token's rotation lock right now."""
        return bool(_call(self.redis.exists, ROTATION_LOCK + name))

    def history(self, name: str, limit: int = 50) -> list[AuditEntry]:
        """The newest audit entries first."""
        raw = _call(self.redis.lrange, history_key(check_name(name)), 0, max(0, limit - 1))
        return [AuditEntry.loads(item) for item in raw]

    # Writing

    def add(
        self,
        name: str,
        target: str,
        secret: str,
        *,
        token_id: str | None = None,
        expires_at: int | None = None,
        scopes: Iterable[str] = (),
        description: str = "",
        origin: Origin = Origin.CLI,
        seed_fingerprint: str = "",
    ) -> TokenRecord:
        """Store a new token (version 1); ``TokenError`` if the name is taken."""
        check_name(name)
        now = self.clock()

        def create(record: TokenRecord | None) -> tuple[TokenRecord, bytes]:
            if record is not None:
                raise TokenError(f"token {name!r} already exists (`relay tokens set {name}` replaces its secret)")
            new = TokenRecord(
                name=name, target=target, fingerprint=fingerprint(secret), version=1, origin=origin,
                created_at=now, issued_at=now, token_id=token_id, expires_at=expires_at, scopes=list(scopes),
                description=description, updated_at=now, seed_fingerprint=seed_fingerprint,
            )  # fmt: skip
            return new, self.cipher.encrypt(secret)

        record = self._transact(name, create)
        assert record is not None
        self.audit(name, "added", f"stored from {origin} (fingerprint {record.fingerprint})", version=1)
        return record

    def install(
        self,
        name: str,
        secret: str,
        *,
        origin: Origin,
        rotated: bool = False,
        expires_at: int | None = KEEP,
        token_id: str | None = KEEP,
        expected_version: int | None = None,
    ) -> TokenRecord:
        """Replace the secret: a new version, status ``ok``; ``expected_version`` guards against a lost race."""
        now = self.clock()
        cipher = self.cipher
        ciphertext = cipher.encrypt(secret)  # before the transaction: a key problem must not leave half a write

        def swap(record: TokenRecord | None) -> tuple[TokenRecord, bytes]:
            if record is None:
                raise TokenError(f"no token named {name!r} in the token store")
            if expected_version is not None and record.version != expected_version:
                raise TokenError(
                    f"token {name!r} changed meanwhile (version {record.version}, expected {expected_version})"
                )
            new = replace(
                record,
                fingerprint=fingerprint(secret),
                version=record.version + 1,
                origin=origin,
                issued_at=now,
                rotated_at=now if rotated else record.rotated_at,
                expires_at=record.expires_at if expires_at is KEEP else expires_at,
                token_id=record.token_id if token_id is KEEP else token_id,
                status=TokenStatus.OK,
                status_reason="",
                updated_at=now,
            )
            return new, ciphertext

        record = self._transact(name, swap)
        assert record is not None
        return record

    def update(
        self,
        name: str,
        *,
        expected_version: int | None = None,
        unless_rotating: bool = False,
        **changes: Any,
    ) -> TokenRecord | None:
        """Change metadata fields (never the secret); None when ``expected_version`` or ``unless_rotating`` stop it."""
        forbidden = {"name", "version", "fingerprint"} & set(changes)
        if forbidden:
            raise ValueError(f"update cannot change {', '.join(sorted(forbidden))}")
        now = self.clock()
        stale = False

        def change(record: TokenRecord | None) -> tuple[TokenRecord, bytes | None] | None:
            nonlocal stale
            if record is None:
                raise TokenError(f"no token named {name!r} in the token store")
            if (expected_version is not None and record.version != expected_version) or (
                unless_rotating and record.status == TokenStatus.ROTATING
            ):
                stale = True
                return None
            return replace(record, **changes, updated_at=now), None

        record = self._transact(name, change)
        return None if stale else record

    def set_status(
        self, name: str, status: TokenStatus, reason: str = "", *, expected_version: int | None = None
    ) -> TokenRecord | None:
        """Record a status; None when the token moved to another version meanwhile."""
        return self.update(name, expected_version=expected_version, status=status, status_reason=reason)

    def remove(self, name: str) -> bool:
        """Delete the token, its history and markers; False when there was none."""
        check_name(name)
        keys = [TOKEN_KEY + name, *_call(lambda: list(self.redis.scan_iter(match=f"{TOKEN_KEY}{name}:*")))]
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys)
            pipe.srem(INDEX_KEY, name)
            deleted, _ = _call(pipe.execute)
        self._cache.pop(name, None)
        return bool(deleted)

    def audit(self, name: str, kind: str, message: str, *, version: int | None = None, **detail: Any) -> AuditEntry:
        """Append to the token's history (capped); messages hold names and fingerprints, never secrets."""
        entry = AuditEntry(at=self.clock(), kind=kind, message=message, version=version, detail=detail)
        key = history_key(name)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, entry.dumps())
            pipe.ltrim(key, 0, HISTORY_LIMIT - 1)
            if kind in _COUNTED:  # relay_token_rotations_total / relay_token_warnings_total, in the same batch
                stats.record_token(pipe, *_COUNTED[kind])
            _call(pipe.execute)
        return entry

    def seed_all(self) -> list[str]:
        """Seed every configured token; the names that were (re)seeded."""
        return [name for name in self.seeds if self.seed(name)]

    def seed(self, name: str) -> bool:
        """Store a target's ``token_secret`` unless the store holds a newer secret; True when it wrote."""
        seed = self.seeds[name]
        secret = seed.secret.get_secret_value()
        seeded = fingerprint(secret)
        now = self.clock()
        ciphertext = self.cipher.encrypt(secret)
        wrote = ""

        def change(record: TokenRecord | None) -> tuple[TokenRecord, bytes] | None:
            nonlocal wrote
            if record is None:
                wrote = "seeded"
                new = TokenRecord(
                    name=name, target=seed.target, fingerprint=seeded, version=1, origin=Origin.CONFIG,
                    created_at=now, issued_at=now, updated_at=now, seed_fingerprint=seeded,
                )  # fmt: skip
                return new, ciphertext
            if record.origin == Origin.CONFIG and record.seed_fingerprint != seeded:
                # The configured secret changed and nothing newer (a rotation, `set`) replaced it: follow it.
                wrote = "reseeded"
                new = replace(
                    record, fingerprint=seeded, version=record.version + 1, issued_at=now, updated_at=now,
                    seed_fingerprint=seeded, status=TokenStatus.OK, status_reason="",
                )  # fmt: skip
                return new, ciphertext
            if record.origin != Origin.CONFIG and record.seed_fingerprint != seeded and record.fingerprint != seeded:
                log.warning("token %s: token_secret in the configuration is ignored, the store holds a newer one", name)
            return None

        record = self._transact(name, change)
        if wrote and record is not None:
            self.audit(
                name, wrote, f"from target {seed.target}'s token_secret (fingerprint {seeded})", version=record.version
            )
        return bool(wrote)

    def rekey(self) -> int:
        """Encrypt every stored secret again with the first key; how many were rewritten."""
        count = 0
        for name in self.names():
            key = TOKEN_KEY + name
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    old: bytes | None = pipe.hget(key, SECRET_FIELD)  # type: ignore[assignment]
                    if old is None:
                        pipe.unwatch()
                        continue
                    pipe.multi()
                    pipe.hset(key, SECRET_FIELD, self.cipher.reencrypt(old, name=name))
                    pipe.execute()
                    count += 1
                except WatchError:
                    raise StoreError(f"token {name!r} changed while re-encrypting; run rekey again") from None
                except redis.RedisError as exc:
                    raise StoreError(f"Redis error: {type(exc).__name__}") from None
        return count

    # Internals

    def _head(self, name: str) -> tuple[int | None, bytes | None, str | None]:
        return _parse_head(_call(self.redis.hmget, TOKEN_KEY + check_name(name), *TOKEN_HEAD_FIELDS))

    def _wait_for_rotation(self, name: str, version: int, secret: bytes) -> tuple[int, bytes]:
        # A rotation is under way: the secret in hand may die any moment, so wait (bounded) for its successor.
        latest = (version, secret)

        def settled() -> bool:
            nonlocal latest
            # The record first, then the lock: a rotation that ends in between is seen with its new version.
            new_version, new_secret, status = self._head(name)
            if new_version is None or new_secret is None:
                return True
            latest = (new_version, new_secret)
            return status != TokenStatus.ROTATING or not self.rotation_running(name)

        poll(settled, timeout=self.rotation_wait_seconds, interval=0.02)
        return latest

    def _decrypt(self, name: str, version: int, secret: bytes) -> Credential:
        credential = Credential(SecretStr(self.cipher.decrypt(secret, name=name)), version)
        register_secret(credential.secret)  # from now on, masked in every log line of this process
        self._cache[name] = (secret, credential)
        return credential

    def _transact(self, name: str, change: Change) -> TokenRecord | None:
        """Read-modify-write of one record under WATCH; ``change`` returns the new record (and ciphertext)."""
        key = TOKEN_KEY + check_name(name)
        for _ in range(50):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    fields: dict[bytes, bytes] = pipe.hgetall(key)  # type: ignore[assignment]
                    current = parse_record(fields) if fields else None
                    result = change(current)
                    if result is None:
                        pipe.unwatch()
                        return current
                    record, ciphertext = result
                    mapping: dict[str, str | bytes] = dict(record_fields(record))
                    if ciphertext is not None:
                        mapping[SECRET_FIELD] = ciphertext
                    pipe.multi()
                    pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
                    pipe.sadd(INDEX_KEY, name)
                    pipe.execute()
                    return record
                except WatchError:
                    continue
                except redis.RedisError as exc:
                    raise StoreError(f"Redis error: {type(exc).__name__}") from None
        raise StoreError(f"token {name!r}: too many concurrent changes, try again")


def _call(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except redis.RedisError as exc:
        raise StoreError(f"Redis error: {type(exc).__name__}") from None


def _parse_head(head: TokenHead | list[bytes | None]) -> tuple[int | None, bytes | None, str | None]:
    version, secret, status = head
    return (int(version) if version else None), secret, (status.decode() if status else None)
