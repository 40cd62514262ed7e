"""Celery's Sentinel form of redis_url: parsed once, handed to kombu's sentinel transport and to redis-py."""

from __future__ import annotations

import pytest
from redis.sentinel import SentinelConnectionPool

from worker.celery_app import celery_config
from worker.config import load_settings
from worker.errors import ConfigError
from worker.store.connection import SentinelURL, connect, is_sentinel

URL = "sentinel://h1:26379;sentinel://h2:26380;sentinel://h3/2"


@pytest.mark.parametrize(
    ("url", "hosts", "db"),
    [
        (URL, [("h1", 26379), ("h2", 26380), ("h3", 26379)], 2),
        ("sentinel://10.0.0.1:5000", [("10.0.0.1", 5000)], 0),
        ("sentinel://a:1/0;", [("a", 1)], 0),
    ],
)
def test_parse(url: str, hosts: list[tuple[str, int]], db: int) -> None:
    assert SentinelURL.parse(url) == SentinelURL(hosts, db)
    assert is_sentinel(url)


def test_a_plain_part_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a sentinel"):
        SentinelURL.parse("sentinel://a:1;redis://b:2")


def test_sentinel_url_needs_the_master_name() -> None:
    with pytest.raises(ConfigError, match="redis_sentinel_master"):
        load_settings(redis_url=URL)


def test_the_broker_gets_the_master_name_and_keeps_the_passwords_apart() -> None:
    settings = load_settings(
        redis_url=URL, redis_sentinel_master="relay", redis_password="p@ss;w", redis_sentinel_password="sentinel-pw"
    )
    config = celery_config(settings)
    assert config["broker_url"] == (
        "sentinel://:p%40ss%3Bw@h1:26379/2;sentinel://:p%40ss%3Bw@h2:26380/2;sentinel://:p%40ss%3Bw@h3:26379/2"
    )
    options = config["broker_transport_options"]
    assert options["master_name"] == "relay"
    assert options["sentinel_kwargs"]["password"] == "sentinel-pw"


def test_relays_client_asks_the_sentinels_for_the_primary() -> None:
    settings = load_settings(redis_url=URL, redis_sentinel_master="relay", redis_password="pw")
    client = connect(URL, settings)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "relay"
    assert pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["db"] == 2
    assert [(c.connection_pool.connection_kwargs["host"]) for c in pool.sentinel_manager.sentinels] == [
        "h1",
        "h2",
        "h3",
    ]
    assert all(c.connection_pool.connection_kwargs.get("password") is None for c in pool.sentinel_manager.sentinels)
