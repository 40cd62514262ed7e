"""From raw request to stored, deduplicated and queued event: one Redis round trip per new delivery."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis
import redis.asyncio

from webhooks import metrics
from webhooks.batch import ScriptBatcher
from webhooks.ratelimit import RateLimited
from webhooks.sources import Verifier, build_verifier
from worker.config import Settings, SourceConfig
from worker.errors import ConfigError, Rejected, StoreError, UnknownSource
from worker.store.events import INGEST_SCRIPT, WAITING_FULL, EventRecord, ingest_arguments, new_event_id
from worker.store.messages import TaskMessageEncoder

WAITING_RETRY_AFTER = 30  # seconds: the workers need a while to bring a full source below its cap


@dataclass(frozen=True)
class Accepted:
    """The answer to a delivery that was stored (or had been already)."""

    event_id: str
    duplicate: bool


@dataclass(frozen=True)
class _Source:
    name: str
    config: SourceConfig
    verify: Verifier


class Ingestor:
    """Verifies deliveries and stores each new one together with its queued task, atomically."""

    def __init__(
        self,
        settings: Settings,
        client: redis.asyncio.Redis,
        encoder: TaskMessageEncoder,
        *,
        verifiers: Mapping[str, Verifier] | None = None,
    ) -> None:
        built = verifiers if verifiers is not None else self.check_sources(settings)
        self.sources = {name: _Source(name, config, built[name]) for name, config in settings.sources.items()}
        self.encoder = encoder
        self.retention_seconds = settings.retention_seconds
        self._store = ScriptBatcher(client, INGEST_SCRIPT)

    @staticmethod
    def check_sources(settings: Settings) -> dict[str, Verifier]:
        """Each source's verifier (keys decoded once); raises ``ConfigError`` naming a bad source."""
        return {name: _verifier(name, config) for name, config in settings.sources.items()}

    def source(self, name: str) -> _Source:
        """The configured source called ``name``, or ``UnknownSource``."""
        source = self.sources.get(name)
        if source is None:
            raise UnknownSource("unknown source")
        return source

    async def ingest(
        self,
        source: _Source,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Accepted:
        """Verify, deduplicate, store and queue one delivery; raises ``Rejected`` or ``StoreError``.

        The sender's address is checked by the caller, before the body is read (``network.check_allowed``).
        """
        now = time.time()
        delivery = source.verify(headers, body, now)
        record = EventRecord(
            id=new_event_id(now),
            source=source.name,
            type=delivery.event_type,
            # dedup_by: body deduplicates on what the signature covers, so a captured delivery replayed with a
            # new delivery id (GitHub's signature does not cover it) is still a duplicate.
            delivery_id=body_digest(body) if source.config.dedup_by == "body" else delivery.delivery_id,
            received_at=now,
            headers=delivery.headers,
            payload=delivery.payload,
        )
        keys, argv = ingest_arguments(
            record,
            queue=self.encoder.queue,
            message=self.encoder.encode(record.id),
            dedup_seconds=source.config.dedup_window_seconds,
            retention_seconds=self.retention_seconds,
            max_waiting=source.config.max_waiting,
        )
        try:
            first = await self._store(keys, argv)
        except redis.RedisError as exc:
            raise StoreError(f"event could not be stored ({type(exc).__name__})") from None
        if first == WAITING_FULL:
            cap = source.config.max_waiting
            raise RateLimited(
                f"source {source.name} has {cap} events waiting, its cap", retry_after=WAITING_RETRY_AFTER
            )
        if first:
            return Accepted(first.decode() if isinstance(first, bytes) else str(first), duplicate=True)
        return Accepted(record.id, duplicate=False)


def body_digest(body: bytes) -> str:
    """The delivery id of ``dedup_by: body``: a hash of the exact bytes received."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _verifier(name: str, config: SourceConfig) -> Verifier:
    try:
        return build_verifier(config)
    except ConfigError as exc:
        raise ConfigError(f"sources.{name}: {exc}") from None


def count_rejection(source: str, error: Rejected) -> None:
    """Count a refused delivery under a short, bounded reason label."""
    metrics.REJECTED.labels(source, type(error).__name__.lower()).inc()
