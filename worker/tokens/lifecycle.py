"""What a token's users report back to its lifecycle: a secret the admin API refused while Relay was using it."""

from __future__ import annotations

import logging

from worker.channels import Notifications
from worker.config import Settings
from worker.errors import AuthError, RelayError
from worker.targets.tokens import TokenSource
from worker.tokens.notify import Notifier
from worker.tokens.records import TokenRecord, TokenStatus
from worker.tokens.rotation import recovery_steps
from worker.tokens.store import TokenStore

log = logging.getLogger("relay.tokens")


def report_refused(
    tokens: TokenSource,
    settings: Settings,
    token_name: str,
    exc: AuthError,
    *,
    notifications: Notifications | None = None,
) -> TokenRecord | None:
    """Mark the refused version of a token ``invalid`` and alert operators now, not at the next check.

    The alert (through ``notifications``, the worker's, when given) also writes the token's audit entry. Not for a
    mere lack of permission (403, CODING's UnauthorizedOperation): the token itself still works. Returns the record
    marked, or None.
    """
    # ``refused`` is decided once, by the target client where it classifies the failure.
    if not exc.refused or exc.token_version is None or not isinstance(tokens, TokenStore):
        return None
    # Only the version that was refused: a secret installed meanwhile is left alone.
    record = tokens.set_status(token_name, TokenStatus.INVALID, exc.message, expected_version=exc.token_version)
    if record is None:
        return None
    text = f"Relay: token {token_name} (target {record.target}) was refused by the admin API. " + recovery_steps(record)
    try:
        Notifier(tokens, settings, notifications=notifications).alert(record, "invalid", text)
    except RelayError as alert_error:
        log.warning(
            "token %s: could not send the invalid-token alert now (%s); the token check retries",
            token_name,
            alert_error,
        )
    return record
