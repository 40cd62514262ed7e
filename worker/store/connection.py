"""Redis connections: a plain URL or Sentinel, and the URL of ``relay up``'s embedded server when none is set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

from worker.config import Settings
from worker.errors import ConfigError

# Written by ``relay up`` so that ``relay events ...`` in another terminal finds the embedded server.
URL_FILE = "redis.url"


def resolve_redis_url(settings: Settings) -> str:
    """The configured URL, else the URL of an embedded server that ``relay up`` is running in ``data_dir``."""
    if settings.redis_url:
        return settings.redis_url
    url_file = settings.data_dir / URL_FILE
    if url_file.exists():
        url = url_file.read_text(encoding="utf-8").strip()
        if url and ping(url):
            return url
    raise ConfigError(
        f"redis_url: not configured, and no embedded Redis is running in {settings.data_dir} "
        "(start one with `relay up`, or set redis_url / RELAY_REDIS_URL)"
    )


SENTINEL_SCHEME = "sentinel://"


@dataclass(frozen=True)
class SentinelURL:
    """Celery's Sentinel form, ``sentinel://h1:26379;sentinel://h2:26379/0``: the Sentinels and the database."""

    hosts: list[tuple[str, int]]
    db: int

    @classmethod
    def parse(cls, url: str) -> SentinelURL:
        """Split ``url`` on ``;``; the database is the path of whichever part has one (default 0)."""
        hosts: list[tuple[str, int]] = []
        db = 0
        for part in filter(None, (piece.strip() for piece in url.split(";"))):
            split = urlsplit(part)
            if split.scheme != "sentinel" or not split.hostname:
                raise ConfigError(f"redis_url: {split.scheme}://{split.hostname} is not a sentinel://host:port part")
            hosts.append((split.hostname, split.port or 26379))
            if split.path.strip("/"):
                db = int(split.path.strip("/"))
        return cls(hosts, db)

    def broker_url(self, password: str | None) -> str:
        """The URL for kombu's sentinel transport: every part with the master's password and the database."""
        auth = f":{quote(password, safe='')}@" if password else ""
        return ";".join(f"sentinel://{auth}{host}:{port}/{self.db}" for host, port in self.hosts)


def is_sentinel(url: str) -> bool:
    """True for Celery's ``sentinel://`` form of ``redis_url``."""
    return url.startswith(SENTINEL_SCHEME)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _sentinel_settings(settings: Settings | None) -> Settings:
    if settings is None:  # callers that predate Sentinel pass the URL alone: this process's configuration applies
        from worker.config import get_settings

        settings = get_settings()
    if not settings.redis_sentinel_master:
        raise ConfigError("redis_url: a sentinel:// URL needs redis_sentinel_master (RELAY_REDIS_SENTINEL_MASTER)")
    return settings


def _sentinel_kwargs(settings: Settings) -> dict[str, Any]:
    # Explicit, so the master's password is never sent to the Sentinels (redis-py's default copies only socket_*).
    kwargs: dict[str, Any] = {"socket_timeout": 2, "socket_connect_timeout": 2}
    if settings.redis_sentinel_password is not None:
        kwargs["password"] = settings.redis_sentinel_password.get_secret_value()
    return kwargs


def connect(url: str, settings: Settings | None = None) -> redis.Redis:
    """A client with explicit timeouts, so a dead server is an error rather than a hang.

    With a ``sentinel://`` URL the client asks the Sentinels for the current primary, and again after a failover.
    """
    options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 3, "health_check_interval": 30}
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    settings = _sentinel_settings(settings)
    parsed = SentinelURL.parse(url)
    sentinel = redis.sentinel.Sentinel(parsed.hosts, sentinel_kwargs=_sentinel_kwargs(settings))  # type: ignore[no-untyped-call,unused-ignore]
    master = str(settings.redis_sentinel_master)
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call,unused-ignore]
        master, db=parsed.db, password=_secret(settings.redis_password), **options
    )
    return client


def async_client(url: str, settings: Settings, **pool_kwargs: Any) -> redis.asyncio.Redis:
    """An asyncio client owning its pool: a blocking pool for a plain URL, the current primary's for Sentinel."""
    if not is_sentinel(url):
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, **pool_kwargs)
        # from_pool: the client owns the pool, so closing the client disconnects the pool's connections too.
        return redis.asyncio.Redis.from_pool(pool)
    settings = _sentinel_settings(settings)
    parsed = SentinelURL.parse(url)
    pool_kwargs.pop("timeout", None)  # a BlockingConnectionPool's wait; Sentinel's pool does not block
    sentinel = redis.asyncio.sentinel.Sentinel(parsed.hosts, sentinel_kwargs=_sentinel_kwargs(settings))  # type: ignore[no-untyped-call,unused-ignore]
    master = str(settings.redis_sentinel_master)
    client: redis.asyncio.Redis = sentinel.master_for(
        master, db=parsed.db, password=_secret(settings.redis_password), **pool_kwargs
    )
    return client


def ping(url: str) -> bool:
    """True when a Redis server answers at ``url``."""
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False
