"""Target kinds: how each kind of admin API authenticates, reports errors and is probed; one class per kind.

A new target kind is one class here, registered in ``KINDS``, and its name and auth modes in ``TargetKindName`` and
``TARGET_AUTH`` (``worker.config.models``: what the configuration may say, checked when it is read, and whether it
rotates). The generic ``TargetClient`` asks the kind, never names it; so does the token lifecycle (``probe``,
``rotate``, ``needs_token_id``, ``console``).

    kind     auth                       probe (cheap authenticated call)          rotation
    api7     X-API-KEY header/cookie    GET <token prefix>/<id> (expiry)          PUT .../<id>/regenerate
    coding   Bearer or Basic            DescribeCodingCurrentUser                 none: warnings, `relay tokens set`
    bearer   Bearer                     none                                      none
    gitlab   PRIVATE-TOKEN (or Bearer)  GET /api/v4/personal_access_tokens/self   POST .../self/rotate (new id+secret)
    github   Bearer                     GET /rate_limit (GitHub-Authentication-   none (no rotate API): warnings; an
                                        Token-Expiration header: the expiry)      App's installation tokens are minted
    gitea    Bearer                     GET /api/v1/user                          none: warnings, `relay tokens set`

CODING error codes (``Response.Error.Code``, which CODING sends even with HTTP 200). CODING's open API uses
the Tencent Cloud API 3.0 conventions: a dotted code whose first part is the family (``AuthFailure.TokenFailure``).

    AuthFailure, AuthFailure.*                      AuthError, refused; re-read the token and retry once if it changed
    UnauthorizedOperation, UnauthorizedOperation.*  AuthError, not refused (the token works but lacks the permission);
                                                    no re-read: a rotation does not add permissions
    InternalError.*, ServiceUnavailable.*,          RetryableError (transient on the server's side)
    RequestLimitExceeded.*
    anything else (InvalidParameter, ResourceNotFound, LimitExceeded (a quota), FailedOperation, ...)
                                                    PermanentError carrying the code
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from worker.config import TargetConfig
from worker.errors import AuthError, PermanentError, RetryableError, TargetError
from worker.redaction import basic_credentials
from worker.targets import gitlab_tokens
from worker.targets.api7_tokens import Api7Tokens, ApiToken
from worker.targets.caller import Caller
from worker.targets.coding import CodingClient, coding_error
from worker.targets.tokens import Credential

CODING_AUTH_FAILURE = ("AuthFailure",)
CODING_FORBIDDEN = ("UnauthorizedOperation",)
CODING_RETRYABLE = ("InternalError", "ServiceUnavailable", "RequestLimitExceeded")


class Probe(StrEnum):
    """Whether a secret authenticates."""

    WORKS = "works"
    REFUSED = "refused"
    UNKNOWN = "unknown"  # unreachable, 5xx, or a kind Relay has no cheap authenticated call for


class TargetKind:
    """The generic behaviour: Bearer auth, no error envelope, refusal only by HTTP 401, nothing to probe."""

    needs_token_id: ClassVar[bool] = True  # rotation names the token by its id at the API
    # Where an operator makes a new secret by hand when the one in the store is lost or refused.
    console: ClassVar[str] = "in the admin console of target {target}, create a new token for the automation account"

    def auth_headers(self, config: TargetConfig, credential: Credential) -> dict[str, str]:
        """Headers that carry the token, as the target's auth mode says."""
        return {"Authorization": f"Bearer {credential.secret.get_secret_value()}"}

    def error_envelope(self, body: Any) -> tuple[str, str] | None:
        """The (code, message) of an error reported in the body, whatever the HTTP status; None when there is none."""
        return None

    def classify(self, code: str) -> type[TargetError]:
        """The error class for an envelope code."""
        return PermanentError

    def refused(self, status: int, code: str | None) -> bool:
        """Whether an auth failure refuses the secret itself (not just the act)."""
        return status == 401

    def reread_on(self, status: int, code: str | None) -> bool:
        """Whether an answer means: read the token again, a rotated one may work."""
        return status == 401

    def probe(self, client: Caller, token_id: str | None) -> tuple[Probe, ApiToken | None]:
        """Make one cheap authenticated call (raising ``TargetError``); UNKNOWN when the kind has none."""
        return Probe.UNKNOWN, None

    def rotate(self, client: Caller, token_id: str | None, expires_at: int, *, now: float) -> ApiToken:
        """Replace the secret through the API (once, never retried): the new token with its secret."""
        raise ValueError(f"target kind {client.config.kind} cannot rotate tokens through its API")


class BearerKind(TargetKind):
    """Any API taking ``Authorization: Bearer``; Relay knows no cheap call to probe it."""


class Api7Kind(TargetKind):
    """API7 Enterprise: ``X-API-KEY`` header or cookie; its tokens can be probed and rotated."""

    console = "in API7's console of target {target} (Settings > Tokens), regenerate the token or create a new one"

    def auth_headers(self, config: TargetConfig, credential: Credential) -> dict[str, str]:
        """``X-API-KEY`` as a header, or as a cookie."""
        secret = credential.secret.get_secret_value()
        if config.auth_mode == "cookie":
            return {"Cookie": f"X-API-KEY={secret}"}
        return {"X-API-KEY": secret}

    def probe(self, client: Caller, token_id: str | None) -> tuple[Probe, ApiToken | None]:
        """The token itself when its id is known (its answer carries the expiry), else one page of tokens."""
        tokens = Api7Tokens(client)
        if token_id:
            return Probe.WORKS, tokens.get(token_id)
        client.call("GET", tokens.prefix, params={"page": 1, "page_size": 1})
        return Probe.WORKS, None

    def rotate(self, client: Caller, token_id: str | None, expires_at: int, *, now: float) -> ApiToken:
        """API7's regenerate: a new secret, the old one dead at once."""
        if not token_id:
            raise ValueError("API7 regenerates a token by its id")
        return Api7Tokens(client).regenerate(token_id, expires_at)


class CodingKind(TargetKind):
    """CODING's open API: Bearer or Basic, errors in ``Response.Error`` even under HTTP 200."""

    def auth_headers(self, config: TargetConfig, credential: Credential) -> dict[str, str]:
        """Bearer, or Basic with ``basic_user``."""
        secret = credential.secret.get_secret_value()
        if config.auth_mode == "basic":
            return {"Authorization": f"Basic {basic_credentials(config.basic_user or 'relay', secret)}"}
        return {"Authorization": f"Bearer {secret}"}

    def error_envelope(self, body: Any) -> tuple[str, str] | None:
        """``Response.Error``'s code and message."""
        error = coding_error(body)
        return None if error is None else (error.code, error.message)

    def classify(self, code: str) -> type[TargetError]:
        """See the CODING table above."""
        if _in_family(code, CODING_AUTH_FAILURE + CODING_FORBIDDEN):
            return AuthError
        if _in_family(code, CODING_RETRYABLE):
            return RetryableError
        return PermanentError

    def refused(self, status: int, code: str | None) -> bool:
        """AuthFailure.* refuses the secret; UnauthorizedOperation.* (or a 403) only denies the act."""
        return _in_family(code, CODING_AUTH_FAILURE) if code is not None else status == 401

    def reread_on(self, status: int, code: str | None) -> bool:
        """A 401 or an AuthFailure.* code."""
        return status == 401 or (code is not None and _in_family(code, CODING_AUTH_FAILURE))

    def probe(self, client: Caller, token_id: str | None) -> tuple[Probe, ApiToken | None]:
        """``DescribeCodingCurrentUser``."""
        CodingClient(client).current_user()
        return Probe.WORKS, None


class GitLabKind(TargetKind):
    """GitLab: a personal access token in ``PRIVATE-TOKEN``; it reads its own record and rotates itself."""

    needs_token_id = False  # .../self/rotate: the token names itself
    console = "in GitLab (User settings > Access tokens), create a personal access token with the api scope"

    def auth_headers(self, config: TargetConfig, credential: Credential) -> dict[str, str]:
        """``PRIVATE-TOKEN``, or Bearer."""
        secret = credential.secret.get_secret_value()
        return {"Authorization": f"Bearer {secret}"} if config.auth_mode == "bearer" else {"PRIVATE-TOKEN": secret}

    def probe(self, client: Caller, token_id: str | None) -> tuple[Probe, ApiToken | None]:
        """``GET /api/v4/personal_access_tokens/self``: its answer carries the expiry."""
        return Probe.WORKS, gitlab_tokens.current(client)

    def rotate(self, client: Caller, token_id: str | None, expires_at: int, *, now: float) -> ApiToken:
        """``POST .../self/rotate``: a new id and secret, the old secret dead at once."""
        return gitlab_tokens.rotate(client, expires_at, now=now)


class GitHubKind(TargetKind):
    """GitHub: a classic or fine-grained token (no rotate API: warnings only), or an App's installation tokens."""

    console = "on GitHub (Settings > Developer settings > Personal access tokens), generate a new token"

    def probe(self, client: Caller, token_id: str | None) -> tuple[Probe, ApiToken | None]:
        """``GET /rate_limit`` (free of rate limits); a token's expiry comes in an answer header."""
        result = client.call("GET", "/rate_limit")
        expiry = github_expiry(result.headers.get("github-authentication-token-expiration"))
        return Probe.WORKS, (ApiToken(id=token_id or "", name="", expires_at=expiry) if expiry else None)


class GiteaKind(TargetKind):
    """Gitea and Forgejo: no rotate API (warnings, `relay tokens set`); ``GET /api/v1/user`` checks the token."""

    console = "in Gitea (Settings > Applications), generate a new access token"

    def probe(self, client: Caller, token_id: str | None) -> tuple[Probe, ApiToken | None]:
        """``GET /api/v1/user``."""
        client.call("GET", "/api/v1/user")
        return Probe.WORKS, None


KINDS: dict[str, TargetKind] = {
    "api7": Api7Kind(),
    "coding": CodingKind(),
    "bearer": BearerKind(),
    "gitlab": GitLabKind(),
    "github": GitHubKind(),
    "gitea": GiteaKind(),
}


def github_expiry(header: str | None) -> int:
    """GitHub's ``GitHub-Authentication-Token-Expiration`` (``2026-01-31 12:00:00 UTC``) as Unix seconds; 0 if none."""
    if not header:
        return 0
    try:
        when = datetime.strptime(header.strip().replace("UTC", "+0000"), "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return 0
    return int(when.timestamp())


def kind_of(config: TargetConfig) -> TargetKind:
    """The kind object of a target."""
    return KINDS[config.kind]


def _in_family(code: str, families: tuple[str, ...]) -> bool:
    return any(code == family or code.startswith(family + ".") for family in families)
