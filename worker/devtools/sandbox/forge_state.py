"""What the forge stand-ins (GitLab, GitHub, Gitea) hold: their tokens, GitHub Apps, and the commit statuses set.

Secrets are kept only as SHA-256 hashes. GitLab personal access tokens follow GitLab's rotation rules: a rotation
revokes the presented token at once and issues a new one in the same family; presenting an already-rotated token
to ``self/rotate`` again revokes the whole family, the new token included (gitlab-org/gitlab#524639).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from worker.devtools.sandbox.tokens import hash_secret

GITLAB_PREFIX = "glpat-"
GITHUB_INSTALLATION_PREFIX = "ghs_"
INSTALLATION_TOKEN_SECONDS = 3600


def iso(seconds: float) -> str:
    """An ISO 8601 UTC time as the forges answer it."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GitLabToken:
    """A GitLab personal access token; ``family`` links the tokens one rotation chain issued."""

    id: int
    name: str
    scopes: list[str]
    secret_hash: str
    family: int
    created_at: float
    expires_at: date
    revoked: bool = False
    rotated: bool = False  # revoked by a rotation (presenting it to rotate again is reuse)
    last_used_at: float | None = None

    def active(self, now: float) -> bool:
        """Not revoked and not past its expiry date."""
        return not self.revoked and datetime.fromtimestamp(now, UTC).date() < self.expires_at

    def public(self) -> dict[str, Any]:
        """The fields GitLab shows (never the secret)."""
        return {
            "id": self.id,
            "name": self.name,
            "revoked": self.revoked,
            "created_at": iso(self.created_at),
            "description": "",
            "scopes": list(self.scopes),
            "user_id": 1,
            "last_used_at": iso(self.last_used_at) if self.last_used_at else None,
            "active": not self.revoked,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass
class GitHubApp:
    """A GitHub App: its id, the public half of its key, and the installations it may mint tokens for."""

    app_id: str
    public_key: str
    installations: set[int]


@dataclass
class ForgeState:
    """Tokens per forge, GitHub Apps and installation tokens, and every commit status set."""

    gitlab: dict[int, GitLabToken] = field(default_factory=dict)
    plain: dict[str, str] = field(default_factory=dict)  # secret hash -> forge, for GitHub and Gitea tokens
    plain_expiry: dict[str, float] = field(default_factory=dict)  # secret hash -> expiry (tokens that have one)
    apps: dict[str, GitHubApp] = field(default_factory=dict)
    installation_tokens: dict[str, tuple[int, float]] = field(default_factory=dict)  # hash -> (installation, exp)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 100

    def new_gitlab_token(self, name: str, scopes: list[str], expires_at: date, now: float) -> tuple[GitLabToken, str]:
        """Create a personal access token (as a user does in GitLab's settings); its secret, shown once."""
        with self.lock:
            return self._issue(name, scopes, expires_at, now, family=None)

    def gitlab_token(self, secret: str | None) -> GitLabToken | None:
        """The GitLab token a secret belongs to (active or not)."""
        if not secret:
            return None
        wanted = hash_secret(secret)
        return next((token for token in self.gitlab.values() if token.secret_hash == wanted), None)

    def rotate_gitlab(self, token: GitLabToken, expires_at: date, now: float) -> tuple[GitLabToken, str]:
        """Revoke ``token`` and issue its successor in the same family."""
        with self.lock:
            token.revoked = token.rotated = True
            return self._issue(token.name, token.scopes, expires_at, now, family=token.family)

    def revoke_family(self, family: int) -> None:
        """Reuse detected: revoke every token of the family."""
        with self.lock:
            for token in self.gitlab.values():
                if token.family == family:
                    token.revoked = True

    def add_plain(self, forge: str, expires_at: float | None = None) -> str:
        """A GitHub or Gitea token (no lifecycle API), optionally expiring; its secret."""
        secret = ("ghp_" if forge == "github" else "") + secrets.token_hex(20)
        self.plain[hash_secret(secret)] = forge
        if expires_at is not None:
            self.plain_expiry[hash_secret(secret)] = expires_at
        return secret

    def expiry(self, secret: str) -> float | None:
        """When a plain token expires, if it does."""
        return self.plain_expiry.get(hash_secret(secret))

    def plain_forge(self, secret: str | None, now: float) -> str | None:
        """The forge a token belongs to (installation tokens are GitHub's until they expire)."""
        if not secret:
            return None
        hashed = hash_secret(secret)
        installation = self.installation_tokens.get(hashed)
        if installation is not None:
            return "github" if installation[1] > now else None
        expiry = self.plain_expiry.get(hashed)
        return None if expiry is not None and expiry <= now else self.plain.get(hashed)

    def mint_installation_token(self, installation: int, now: float) -> tuple[str, float]:
        """A new installation token, valid for an hour."""
        secret = GITHUB_INSTALLATION_PREFIX + secrets.token_urlsafe(27)
        expires = now + INSTALLATION_TOKEN_SECONDS
        self.installation_tokens[hash_secret(secret)] = (installation, expires)
        return secret, expires

    def _issue(
        self, name: str, scopes: list[str], expires_at: date, now: float, family: int | None
    ) -> tuple[GitLabToken, str]:
        self._next_id += 1
        secret = GITLAB_PREFIX + secrets.token_urlsafe(15)
        token = GitLabToken(
            id=self._next_id, name=name, scopes=list(scopes), secret_hash=hash_secret(secret),
            family=family or self._next_id, created_at=now, expires_at=expires_at,
        )  # fmt: skip
        self.gitlab[token.id] = token
        return token, secret


def default_expiry(now: float, days: int = 7) -> date:
    """GitLab's default for a rotated token: a week from today."""
    return datetime.fromtimestamp(now, UTC).date() + timedelta(days=days)
