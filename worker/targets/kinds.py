"""Target kinds: how each kind of admin API authenticates, reports errors and is probed; one class per kind.

A new target kind is one class here, registered in ``KINDS``, and its name and auth modes in ``TargetKindName`` and
``TARGET_AUTH`` (``worker.config.models``: what the configuration may say, checked when it is read). The generic
``TargetClient`` asks the kind, never names it.

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

import base64
from enum import StrEnum
from typing import Any

from worker.config import TargetConfig
from worker.errors import AuthError, PermanentError, RetryableError, TargetError
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


class BearerKind(TargetKind):
    """Any API taking ``Authorization: Bearer``; Relay knows no cheap call to probe it."""


class Api7Kind(TargetKind):
    """API7 Enterprise: ``X-API-KEY`` header or cookie; its tokens can be probed and rotated."""

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


class CodingKind(TargetKind):
    """CODING's open API: Bearer or Basic, errors in ``Response.Error`` even under HTTP 200."""

    def auth_headers(self, config: TargetConfig, credential: Credential) -> dict[str, str]:
        """Bearer, or Basic with ``basic_user``."""
        secret = credential.secret.get_secret_value()
        if config.auth_mode == "basic":
            return {"Authorization": f"Basic {basic(config.basic_user or 'relay', secret)}"}
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


KINDS: dict[str, TargetKind] = {"api7": Api7Kind(), "coding": CodingKind(), "bearer": BearerKind()}


def kind_of(config: TargetConfig) -> TargetKind:
    """The kind object of a target."""
    return KINDS[config.kind]


def basic(user: str, secret: str) -> str:
    """The credentials of an HTTP Basic header."""
    return base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def _in_family(code: str, families: tuple[str, ...]) -> bool:
    return any(code == family or code.startswith(family + ".") for family in families)
