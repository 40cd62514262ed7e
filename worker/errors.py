"""Relay's error tree: one place that says what each failure means and whether it is worth retrying.

    RelayError
    ├── ConfigError                 invalid configuration (start-up stops, message names the key)
    ├── StoreError                  Redis unreachable or a record missing/corrupt
    │   ├── EventNotFound
    │   ├── CorruptRecord           a stored record that cannot be read back (not worth retrying)
    │   └── UnresolvedOutcome       a replay of an event with an action of unknown outcome, not resolved
    ├── Rejected                    a webhook delivery refused; carries the HTTP status and a short reason
    │   ├── BadRequest (400)        body the source's kind cannot parse
    │   ├── Unauthorized (401)      missing/bad signature or token, stale timestamp
    │   ├── Forbidden (403)         sender address not allowed
    │   ├── UnknownSource (404)
    │   └── PayloadTooLarge (413)
    ├── TargetError                 a call to an admin API failed
    │   ├── RetryableError          network error, 5xx, 429: try again later (maybe after ``retry_after``);
    │   │                           ``maybe_applied``: the request may have taken effect (no answer came back)
    │   └── PermanentError          other 4xx, an error envelope: retrying will not help
    │       └── AuthError           401/403 with the current token (after one re-read of the token store);
    │                               ``token_version``: the version of the credential refused;
    │                               ``refused``: the token itself was refused (not a mere lack of permission)
    ├── RepoError                   reading a repository (a mixin: each also sits under TargetError's branches)
    │   ├── RepoUnavailable         + RetryableError: the git server unreachable, a timeout, 5xx, the cache busy
    │   ├── RepoAuthError           + AuthError: the git server answered 401 (refused) or 403
    │   ├── RepoNotFound            + PermanentError: the repository, commit or path is not there (names it)
    │   ├── RepoLimitExceeded       + PermanentError: a fetch or a file past the repository's limits
    │   └── GitMissing              + PermanentError: no usable ``git`` executable on this machine
    ├── TokenError                  token store problems (unknown token, undecryptable secret)
    └── RuleError                   a rule or template that cannot be evaluated
        └── GitOpsError             a reconcile that cannot go on with this revision
            ├── DesiredStateError   the repository's files are invalid (file, line, resource, field)
            └── PlanRefused         a plan Relay will not apply (it would empty the group)

Messages never contain a secret: callers pass reasons, never header values or tokens.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base of every error Relay raises on purpose."""


class ConfigError(RelayError):
    """The configuration is invalid; the message names the key and the problem."""


class StoreError(RelayError):
    """Redis could not be reached, or a stored record is missing or corrupt."""


class EventNotFound(StoreError):
    """No event record with this id (never stored, or expired)."""


class CorruptRecord(StoreError):
    """A stored record cannot be parsed; retrying will not change that."""


class UnresolvedOutcome(StoreError):
    """A replay met an action whose outcome is unknown and was not told to skip or retry it."""


class Rejected(RelayError):
    """A webhook delivery is refused with an HTTP status and a short, secret-free reason."""

    status_code = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(Rejected):
    """The body cannot be parsed as the source's kind says it should be."""

    status_code = 400


class Unauthorized(Rejected):
    """Missing or wrong signature or token, or a timestamp outside the tolerance."""

    status_code = 401


class Forbidden(Rejected):
    """The sender's address is not in the source's allowlist."""

    status_code = 403


class UnknownSource(Rejected):
    """No source with this name is configured."""

    status_code = 404


class PayloadTooLarge(Rejected):
    """The body is larger than the source's limit."""

    status_code = 413


class TargetError(RelayError):
    """A call to an admin API failed."""

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code


class RetryableError(TargetError):
    """A transient failure (network, 5xx, 429); ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code)
        self.retry_after = retry_after
        # True when the request may have reached the server and taken effect although no answer came back (a read
        # timeout, a connection cut mid-answer, a 504): retrying a non-idempotent write could apply it twice.
        self.maybe_applied = maybe_applied


class PermanentError(TargetError):
    """A failure that retrying will not fix (4xx other than 429, an error envelope)."""


class AuthError(PermanentError):
    """The admin API refused the current token, even after re-reading it; ``token_version`` is the one refused."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        token_version: int | None = None,
        refused: bool = False,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code)
        # Decided once, by the target kind that classified the failure: True when the secret itself was refused
        # (401, CODING's AuthFailure.*), False when it works but lacks a permission (403, UnauthorizedOperation.*).
        self.refused = refused
        # The version of the credential the refused request carried (None when unknown), so that exactly that
        # version is marked invalid, never a newer one a rotation installed meanwhile.
        self.token_version = token_version


class TokenError(RelayError):
    """A token is unknown, or its stored secret cannot be decrypted with the configured keys."""


class RuleError(RelayError):
    """A rule's condition or template cannot be evaluated (missing field, bad expression)."""


class RepoError(RelayError):
    """A repository could not be read; the concrete classes also say whether to retry (see the tree above)."""


class RepoUnavailable(RepoError, RetryableError):
    """The git server could not be reached or answered 5xx, a git command timed out, or the cache lock is busy."""


class RepoAuthError(RepoError, AuthError):
    """The git server refused the token (401: ``refused``) or the token lacks access (403)."""


class RepoNotFound(RepoError, PermanentError):
    """The repository, the commit or a path is not there; the message names which."""


class RepoLimitExceeded(RepoError, PermanentError):
    """A fetch or a file is larger than the repository's limits allow."""


class GitMissing(RepoError, PermanentError):
    """``git`` is not installed (or not runnable): reading repositories needs it."""


class GitOpsError(RuleError):
    """A reconcile that cannot go on with this revision (bad file, refused plan); retrying it will not help."""


class DesiredStateError(GitOpsError):
    """The repository's files are not a valid desired state; the message names the file, line, resource and field."""


class PlanRefused(GitOpsError):
    """A plan Relay will not apply as it stands (it would empty the gateway group, say)."""
