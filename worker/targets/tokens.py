"""Where a client gets its token: a seam, so the token store (or a test) can stand in for configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

from worker.config import Settings
from worker.errors import TokenError


@dataclass(frozen=True)
class Credential:
    """A token's current secret and its version (bumped by every rotation)."""

    secret: SecretStr
    version: int = 0


class TokenSource(Protocol):
    """Gives the current credential for a token name; read again after a 401."""

    def current(self, name: str) -> Credential:
        """The newest credential stored under ``name``."""
        ...


class ConfigTokens:
    """Tokens taken from the targets' ``token_secret`` settings (before the token store seeds them)."""

    def __init__(self, settings: Settings) -> None:
        self._secrets = {
            settings.token_names[name]: target.token_secret
            for name, target in settings.targets.items()
            if target.token_secret is not None
        }

    def current(self, name: str) -> Credential:
        """The configured secret, version 0."""
        secret = self._secrets.get(name)
        if secret is None:
            raise TokenError(f"token {name!r}: no secret stored or configured")
        return Credential(secret)
