"""The few admin API calls the token lifecycle makes, each with the exact credential it must use.

This is the one seam to the API clients in ``worker.targets``: rotation, checks and ``--revoke`` go through here.
Every call is made with a given credential (not "whatever the store holds now"), so a probe tests the secret in
hand and a regenerate is never repeated with another secret by the client's 401 re-read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from worker.config import TargetConfig
from worker.errors import AuthError, PermanentError, RetryableError, TargetError
from worker.http_answer import Acted, acted
from worker.targets.api7_tokens import Api7Tokens, ApiToken
from worker.targets.client import TargetClient
from worker.targets.kinds import KINDS, Probe
from worker.targets.tokens import Credential

__all__ = ["FixedToken", "Probe", "answer_lost", "client_for", "console", "probe", "revoke", "rotate"]


class FixedToken:
    """A ``TokenSource`` that always answers the same credential."""

    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def current(self, name: str) -> Credential:
        """The fixed credential."""
        return self._credential


@contextmanager
def client_for(
    target: str, config: TargetConfig, credential: Credential, transport: httpx.BaseTransport | None = None
) -> Iterator[TargetClient]:
    """A short-lived client of ``target`` that sends ``credential`` and nothing else."""
    client = TargetClient(target, config, FixedToken(credential), transport=transport)
    try:
        yield client
    finally:
        client.close()


def probe(client: TargetClient, token_id: str | None) -> tuple[Probe, ApiToken | None]:
    """Make one cheap authenticated call; for API7 with a token id, its answer also carries the expiry."""
    try:
        return KINDS[client.config.kind].probe(client, token_id)
    except AuthError as exc:
        return (Probe.REFUSED if exc.refused else Probe.WORKS), None
    except RetryableError:
        return Probe.UNKNOWN, None
    except (PermanentError, ValueError):
        # Any other answer (a 404 for a deleted token id, a malformed body) came past authentication.
        return Probe.WORKS, None


def rotate(client: TargetClient, token_id: str | None, expires_at: int, *, now: float) -> ApiToken:
    """The target kind's rotation (API7 regenerate, GitLab self/rotate): the new token with its secret, once."""
    return KINDS[client.config.kind].rotate(client, token_id, expires_at, now=now)


def console(kind: str) -> str:
    """Where an operator of this target kind makes a new secret by hand (``{target}`` left to fill in)."""
    return KINDS[kind].console


def revoke(client: TargetClient, token_id: str) -> None:
    """Delete the token at the admin API (its secret stops working)."""
    Api7Tokens(client).delete(token_id)


def answer_lost(exc: TargetError) -> bool:
    """Whether a write may have happened although no usable answer came back (``http_answer.acted`` says).

    A rotation can check afterwards (it probes the old secret), so any doubt counts: all but ``Acted.NO``.
    """
    if isinstance(exc, RetryableError):
        return acted(exc.status_code) != Acted.NO
    # A PermanentError without a status is Relay's own, raised reading a 2xx it could not use (no secret, another
    # shape): the server acted.
    return isinstance(exc, PermanentError) and exc.status_code is None and not isinstance(exc, AuthError)
