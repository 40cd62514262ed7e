"""CODING's open API: ``POST /open-api`` with ``{"Action": ..., <params>}``, answers ``{"Response": {...}}``.

A failed call answers ``{"Response": {"Error": {"Code": ..., "Message": ...}, "RequestId": ...}}``, usually with
HTTP 200. ``TargetClient`` turns that envelope into an error for every call to a ``coding`` target (rule actions
included); ``kinds.CodingKind.classify`` says which error. ``coding_action`` is the typed way to call an action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.errors import PermanentError
from worker.targets.caller import Caller

OPEN_API_PATH = "/open-api"


@dataclass(frozen=True)
class CodingError:
    """The ``Response.Error`` of a CODING answer."""

    code: str
    message: str


def coding_error(body: Any) -> CodingError | None:
    """The error envelope in a CODING answer, or None when the answer is not one."""
    if not isinstance(body, dict):
        return None
    response = body.get("Response")
    error = response.get("Error") if isinstance(response, dict) else None
    if not isinstance(error, dict):
        return None
    code = error.get("Code")
    message = error.get("Message")
    return CodingError(
        code=str(code) if code else "UnknownError",
        message=str(message) if message else "no message",
    )


def coding_action(
    client: Caller, action: str, /, *, idempotency_key: str | None = None, **params: Any
) -> dict[str, Any]:
    """Call a CODING action and return its ``Response`` (with ``RequestId``); errors raise as ``retry`` maps."""
    if not action:
        raise ValueError("a CODING action name is required")
    # The action may also travel as ?Action=, but the body keeps it next to its parameters (and out of logs).
    result = client.call("POST", OPEN_API_PATH, json={"Action": action, **params}, idempotency_key=idempotency_key)
    body = result.body
    response = body.get("Response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        # No status_code: like every unusable 2xx answer, the server did answer (and may have acted).
        raise PermanentError(f"{client.name}: {action} answered without a Response object")
    # The client already raised for an Error object; a server may still send ``"Error": null``.
    return {key: value for key, value in response.items() if key != "Error"}


class CodingClient:
    """CODING's open API over one target's pooled client."""

    def __init__(self, client: Caller) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.client!r}>"

    def action(self, action: str, /, *, idempotency_key: str | None = None, **params: Any) -> dict[str, Any]:
        """Call ``action`` with ``params``; see ``coding_action``."""
        return coding_action(self.client, action, idempotency_key=idempotency_key, **params)

    def current_user(self) -> dict[str, Any]:
        """The user that owns the token (``DescribeCodingCurrentUser``), a cheap check that the token works."""
        user = self.action("DescribeCodingCurrentUser").get("User")
        if not isinstance(user, dict):
            raise PermanentError(f"{self.client.name}: DescribeCodingCurrentUser answered without a User")
        return user
