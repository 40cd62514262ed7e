"""The ``repos:`` section: repositories Relay reads commits from and reports back to.

    repos:
      payments:
        url: https://e.coding.net/acme/shop/payments.git   # https; http only to a loopback address (tests, demo)
        token: coding-bot                                    # a name in the token store
        forge: coding                                        # github | gitlab | gitea | coding | git
        api_url: https://gitlab.example.com/api/v4           # optional: where commit statuses go
        project: acme/payments                               # optional: owner/repo or GitLab project path or id
        limits: {max_fetch_bytes: 268435456, timeout_seconds: 120, max_file_bytes: 1048576, max_files: 10000,
                 max_read_bytes: 67108864, max_cache_bytes: 1073741824}

This module imports nothing of Relay's, so the settings can use it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ForgeKind = Literal["github", "gitlab", "gitea", "coding", "git"]
REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# An owner/repo path (GitHub, Gitea), a GitLab project path with groups, or a numeric GitLab project id.
PROJECT = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
# The user name sent with the token (HTTP Basic) when the repository does not say: what each forge documents.
DEFAULT_USERNAME: dict[str, str] = {
    "github": "x-access-token",
    "gitlab": "oauth2",
    "gitea": "relay",
    "coding": "relay",
    "git": "relay",
}


class _RepoModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepoLimits(_RepoModel):
    """What one read of a repository may cost."""

    max_fetch_bytes: int = Field(default=256 * 2**20, gt=0, description="objects a fetch may add to the cache")
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600, description="one git command, and the cache lock")
    max_file_bytes: int = Field(default=2**20, gt=0, description="one file read from a commit")
    max_files: int = Field(default=10_000, gt=0, description="files one read may return")
    max_read_bytes: int = Field(default=64 * 2**20, gt=0, description="all the files one read returns, together")
    max_cache_bytes: int = Field(default=2**30, gt=0, description="past it, the cache is dropped after a read")


class RepoConfig(_RepoModel):
    """One repository: where it is, the token that reads it, and the forge to report commit statuses to."""

    url: str
    token: str
    forge: ForgeKind = "git"
    api_url: str | None = Field(default=None, description="the forge's API root; default from the URL's host")
    project: str | None = Field(default=None, description="owner/repo or GitLab project; default from the URL path")
    username: str | None = Field(default=None, description="HTTP Basic user sent with the token; default per forge")
    limits: RepoLimits = Field(default_factory=RepoLimits)

    @field_validator("url")
    @classmethod
    def _url_is_safe(cls, value: str) -> str:
        return check_url(value, what="url")

    @field_validator("api_url")
    @classmethod
    def _api_url_is_safe(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, what="api_url").rstrip("/")

    @field_validator("token")
    @classmethod
    def _token_name(cls, value: str) -> str:
        if not TOKEN_NAME.fullmatch(value):
            raise ValueError("token must be a token store name (letters, digits, '.', '_', '-')")
        return value

    @field_validator("project")
    @classmethod
    def _project_path(cls, value: str | None) -> str | None:
        if value is not None and (not PROJECT.fullmatch(value) or ".." in value.split("/")):
            raise ValueError("project must be a path like owner/repo (letters, digits, '.', '_', '-')")
        return value

    @model_validator(mode="after")
    def _no_credentials_in_url(self) -> RepoConfig:
        if not self.project_path:
            raise ValueError("url has no repository path")
        return self

    @property
    def user(self) -> str:
        """The HTTP Basic user name sent with the token."""
        return self.username or DEFAULT_USERNAME[self.forge]

    @property
    def project_path(self) -> str:
        """The repository's path at its forge: ``project``, or the URL's path without ``.git``."""
        if self.project:
            return self.project
        return urlsplit(self.url).path.strip("/").removesuffix(".git")

    @property
    def host(self) -> str:
        """The URL's host (and port): the only host the token is sent to."""
        return urlsplit(self.url).netloc


def check_url(value: str, *, what: str) -> str:
    """``value`` if it is https (or http to a loopback address), with no user, password, query or fragment."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{what} must be an https:// URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError(f"{what}: http:// only to a loopback address (tests, the demo); use https://")
    if parts.username is not None or parts.password is not None:
        # A token in a URL ends up in logs, process lists and .git/config: it goes in the token store.
        raise ValueError(f"{what} must not hold a user or password: name a token in the token store instead")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a query or fragment")
    if any(char.isspace() or ord(char) < 32 for char in value):
        raise ValueError(f"{what} must not hold whitespace or control characters")
    return value


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_repo_name(name: str) -> str:
    """``name`` if it can name a cache directory and a Redis key part."""
    if not REPO_NAME.fullmatch(name):
        raise ValueError(f"repository name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return name
