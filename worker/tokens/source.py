"""Where a worker process gets its tokens: the store, seeded from the configuration, or a clear fallback."""

from __future__ import annotations

import logging

import redis

from worker.config import Settings
from worker.errors import StoreError, TokenError
from worker.targets.tokens import ConfigTokens, Credential, TokenSource
from worker.tokens.github_app import with_app_tokens
from worker.tokens.keys import load_cipher
from worker.tokens.store import INDEX_KEY, TokenStore, seeds_from_settings

log = logging.getLogger("relay.tokens")


class UnavailableTokens:
    """A ``TokenSource`` that explains, on every use, why no secret can be had."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def current(self, name: str) -> Credential:
        """Always ``TokenError``."""
        raise TokenError(f"token {name!r}: {self.reason}")


def open_store(settings: Settings, client: redis.Redis) -> TokenStore:
    """The token store with its key (``TokenError`` naming RELAY_TOKEN_KEY when there is none)."""
    return TokenStore(client, load_cipher(settings.data_dir), seeds=seeds_from_settings(settings))


def token_source(settings: Settings, client: redis.Redis) -> TokenSource:
    """The store, seeded from targets' ``token_secret``; without a key, the configuration (while the store is empty).

    GitHub App targets' token names answer installation tokens minted with the stored key (``github_app``).

    Without RELAY_TOKEN_KEY a worker keeps working from ``token_secret`` as before the store existed, with a
    warning. Once the store holds tokens it never falls back: a configured secret may be one a rotation killed.
    """
    try:
        store = open_store(settings, client)
    except TokenError as exc:
        try:
            populated = bool(client.scard(INDEX_KEY))
        except redis.RedisError:
            populated = False
        if populated:
            return UnavailableTokens(f"the token store holds secrets but cannot open them: {exc}")
        log.warning("token store disabled (%s); using token_secret from the configuration, no rotation", exc)
        return ConfigTokens(settings)
    try:
        seeded = store.seed_all()
    except StoreError as exc:
        # Redis not reachable yet: ``current`` seeds a missing token on first use instead.
        log.warning("could not seed the token store now (%s); seeding on first use", exc)
    else:
        if seeded:
            log.info("token store seeded from the configuration: %s", ", ".join(seeded))
    return with_app_tokens(store, settings)
