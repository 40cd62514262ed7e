"""Reporting back on a commit: a commit status (pending, success, failure) at the repository's forge.

One reporter per forge kind in ``REPORTERS``; a kind mapped to None has no commit status API Relay can use:

    forge    request                                                  states sent          token header
    github   POST {api}/repos/{owner}/{repo}/statuses/{sha}            pending/success/failure  Authorization: Bearer
    gitea    POST {api}/repos/{owner}/{repo}/statuses/{sha} (/api/v1)  pending/success/failure  Authorization: token
    gitlab   POST {api}/projects/{url-encoded path}/statuses/{sha}     pending/success/failed   PRIVATE-TOKEN
    coding   none (CODING's open API has no commit status for a plain git push)
    git      none (a plain git server)

A failure to report never fails the event: ``StatusReporter.report`` logs it, counts it and returns the outcome.
The description is one line of at most 140 characters (GitHub's limit; the others take it too).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar
from urllib.parse import quote, urlsplit

import httpx

from worker.errors import RelayError
from worker.repos.config import RepoConfig
from worker.targets.tokens import TokenSource

log = logging.getLogger("relay.repos")
DESCRIPTION_MAX = 140
SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
Count = Callable[[str, str], None]  # (repo, outcome)


class CommitState(StrEnum):
    """What Relay says about a commit."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class CommitStatus:
    """One status: its state, a one-line summary, a link to the event's story, and the label it goes under."""

    state: CommitState
    description: str
    target_url: str | None = None
    context: str = "relay"


@dataclass(frozen=True)
class StatusRequest:
    """The HTTP request that sets a status."""

    url: str
    headers: dict[str, str]
    body: dict[str, str]


class GitHubStatuses:
    """GitHub (github.com, or Enterprise Server's ``/api/v3``)."""

    states: ClassVar[Mapping[CommitState, str]] = {state: str(state) for state in CommitState}

    def default_api(self, config: RepoConfig) -> str:
        """``https://api.github.com`` for github.com, else the host's ``/api/v3``."""
        parts = urlsplit(config.url)
        return "https://api.github.com" if parts.hostname == "github.com" else f"{parts.scheme}://{parts.netloc}/api/v3"

    def headers(self, secret: str) -> dict[str, str]:
        """The token and GitHub's versioned media type."""
        return {
            "Authorization": f"Bearer {secret}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def request(self, config: RepoConfig, api: str, sha: str, status: CommitStatus, secret: str) -> StatusRequest:
        """The status request for this forge."""
        body = {"state": self.states[status.state], "description": status.description, "context": status.context}
        if status.target_url:
            body["target_url"] = status.target_url
        owner_repo = "/".join(quote(part, safe="") for part in config.project_path.split("/"))
        return StatusRequest(f"{api}/repos/{owner_repo}/statuses/{sha}", self.headers(secret), body)


class GiteaStatuses(GitHubStatuses):
    """Gitea and Forgejo: GitHub's shape under ``/api/v1``, the token as ``Authorization: token``."""

    def default_api(self, config: RepoConfig) -> str:
        """The host's ``/api/v1``."""
        parts = urlsplit(config.url)
        return f"{parts.scheme}://{parts.netloc}/api/v1"

    def headers(self, secret: str) -> dict[str, str]:
        """The token."""
        return {"Authorization": f"token {secret}", "Accept": "application/json"}


class GitLabStatuses:
    """GitLab: the project by its URL-encoded path (or id), ``failed`` for a failure, the status under ``name``."""

    states: ClassVar[Mapping[CommitState, str]] = {
        CommitState.PENDING: "pending",
        CommitState.SUCCESS: "success",
        CommitState.FAILURE: "failed",
    }

    def default_api(self, config: RepoConfig) -> str:
        """The host's ``/api/v4``."""
        parts = urlsplit(config.url)
        return f"{parts.scheme}://{parts.netloc}/api/v4"

    def request(self, config: RepoConfig, api: str, sha: str, status: CommitStatus, secret: str) -> StatusRequest:
        """The status request for this forge."""
        body = {"state": self.states[status.state], "description": status.description, "name": status.context}
        if status.target_url:
            body["target_url"] = status.target_url
        project = quote(config.project_path, safe="")
        return StatusRequest(f"{api}/projects/{project}/statuses/{sha}", {"PRIVATE-TOKEN": secret}, body)


Reporter = GitHubStatuses | GitLabStatuses
# A new forge kind: its reporter here (or None when it has no commit status API) and its name in ForgeKind.
REPORTERS: dict[str, Reporter | None] = {
    "github": GitHubStatuses(),
    "gitea": GiteaStatuses(),
    "gitlab": GitLabStatuses(),
    "coding": None,
    "git": None,
}


def one_line(text: str, limit: int = DESCRIPTION_MAX) -> str:
    """``text`` on one line, whitespace collapsed, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class StatusReporter:
    """Sets commit statuses with each repository's token; never raises for a failure to report."""

    def __init__(
        self,
        repos: Mapping[str, RepoConfig],
        tokens: TokenSource,
        *,
        count: Count | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.repos = repos
        self.tokens = tokens
        self.count = count
        self.client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def report(self, repo: str, sha: str, status: CommitStatus) -> str:
        """Set the status; the outcome: ``sent``, ``failed`` or ``unsupported`` (a forge without the API)."""
        config = self.repos.get(repo)
        reporter = REPORTERS.get(config.forge) if config is not None else None
        if config is None or reporter is None:
            return self._done(repo, "unsupported")
        if not SHA.fullmatch(sha):
            log.warning("repository %s: no commit status for %r: not a full commit id", repo, sha[:80])
            return self._done(repo, "failed")
        try:
            response = self._send(config, reporter, sha, status)
        except (RelayError, httpx.HTTPError) as exc:
            log.warning("repository %s: commit status %s for %s not set: %s", repo, status.state, sha[:12], _why(exc))
            return self._done(repo, "failed")
        if not 200 <= response.status_code < 300:
            log.warning("repository %s: commit status %s for %s refused: HTTP %d", repo, status.state, sha[:12],
                        response.status_code)  # fmt: skip
            return self._done(repo, "failed")
        return self._done(repo, "sent")

    def _send(self, config: RepoConfig, reporter: Reporter, sha: str, status: CommitStatus) -> httpx.Response:
        secret = self.tokens.current(config.token).secret.get_secret_value()
        api = config.api_url or reporter.default_api(config)
        clean = CommitStatus(status.state, one_line(status.description), _safe_url(status.target_url), status.context)
        request = reporter.request(config, api, sha, clean, secret)
        return self.client.post(request.url, headers=request.headers, json=request.body)

    def _done(self, repo: str, outcome: str) -> str:
        if self.count is not None:
            self.count(repo, outcome)
        return outcome


def _safe_url(url: str | None) -> str | None:
    """A link only when it is http(s): a forge shows it to everyone who looks at the commit."""
    return url if url and urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc else None


def _why(exc: Exception) -> str:
    # An httpx error's text can carry the URL only (never a header); a RelayError names its problem itself.
    return f"{type(exc).__name__}: {exc}"
