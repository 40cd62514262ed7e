"""Who may read what operators see on the receiver's port (``/metrics``, ``/status``): ``receiver.metrics_token``.

One rule for every operator route: with no token configured they are open; with one, a request must carry it as
``Authorization: Bearer <token>`` (what a Prometheus scrape config's ``authorization`` sends) or as the password of
HTTP Basic auth, any user name (what a browser asks for, and a scrape config's ``basic_auth``). Anything else is a
401 naming the setting, with ``WWW-Authenticate: Basic`` so that a browser asks. The comparison takes constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse

REALM = "relay"


def presented_token(authorization: str) -> str | None:
    """The token an ``Authorization`` header carries (Bearer, or Basic's password); None for any other form."""
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return given.strip()
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(given.strip(), validate=True).decode().partition(":")[2].strip()
    except (binascii.Error, UnicodeDecodeError):
        return None


def authorized(request: Request, token: SecretStr | None) -> bool:
    """No token configured, or the request carries it (``Bearer <token>`` or Basic with it as password)."""
    if token is None:
        return True
    given = presented_token(request.headers.get("authorization", ""))
    return given is not None and hmac.compare_digest(given.encode(), token.get_secret_value().encode())


def refusal(what: str) -> JSONResponse:
    """The 401 for a request without the token: JSON naming the setting, and a Basic challenge for browsers."""
    return JSONResponse(
        {"error": f"{what} needs receiver.metrics_token (Authorization: Bearer <token>, or Basic with it as password)"},
        401,
        headers={"WWW-Authenticate": f'Basic realm="{REALM}"'},
    )
