"""The one redactor: a secret replaced by ``***`` in every encoding it could take on its way into text.

A server, a library or Relay itself may echo a secret as it was sent or as it was encoded for the wire:

| form         | example for ``a/b c"`` (user ``bot`` for Basic)  | where it comes from                    |
|--------------|--------------------------------------------------|----------------------------------------|
| plain        | ``a/b c"``                                       | a header, a body, an error message     |
| URL-encoded  | ``a%2Fb%20c%22``, ``a/b%20c%22``, ``a%2Fb+c%22`` | a query string, a path, a form body    |
| Basic        | base64 of ``bot:a/b c"``                         | an ``Authorization: Basic`` header     |
| JSON-escaped | ``a/b c\\"`` (and ``\\uXXXX`` for non-ASCII)     | a value serialised before it is masked |

Logs (``worker.ops.logs``), target errors (``worker.targets.client``), channel errors (``worker.channels.client``)
and ``relay rules test`` all ask this module. The sandbox keeps its own, by field name: it imports only itself.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4  # masking shorter strings would garble ordinary words; they are no real secrets anyway


def basic_credentials(user: str, secret: str) -> str:
    """The credentials of an HTTP Basic header: the one encoding every client sends and the redactor masks."""
    return base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def forms(secret: str, *, basic_user: str | None = None) -> set[str]:
    """Every text form of ``secret``: plain, URL-encoded, JSON-escaped, and Basic credentials of ``basic_user``."""
    if len(secret) < MIN_SECRET_LENGTH:
        return set()
    found = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    found |= {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    if basic_user is not None:
        found.add(basic_credentials(basic_user, secret))
    return found


class Secrets:
    """A set of secrets, kept as all their forms, that masks them in text and in JSON-shaped values."""

    def __init__(self, secrets: Iterable[str] = (), *, basic_user: str | None = None) -> None:
        self._forms: list[str] = []
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret, basic_user=basic_user)

    def add(self, secret: str, *, basic_user: str | None = None) -> None:
        """Mask ``secret`` (in all its forms) from now on."""
        new = forms(secret, basic_user=basic_user)
        with self._lock:
            # Longest first, so that a form containing another is replaced whole.
            self._forms = sorted(new.union(self._forms), key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every form of every secret replaced by ``***``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def redact_value(self, value: Any) -> Any:
        """A JSON-shaped value with every string in it redacted, at any depth (other leaves kept as they are)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set):
            return [self.redact_value(item) for item in value]
        return value


def redact(text: str, secrets: Iterable[str], *, basic_user: str | None = None) -> str:
    """``text`` with every form of each of ``secrets`` replaced by ``***``."""
    return Secrets(secrets, basic_user=basic_user).redact(text)
