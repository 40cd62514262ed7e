"""Helpers the forge stand-ins share: reading a token from a header, a JSON body, a commit id, a status record."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from worker.devtools.sandbox.web import loads_strict

SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def bearer(request: Request, *schemes: str) -> str | None:
    """The secret of ``Authorization: <scheme> <secret>`` for one of ``schemes`` (case-insensitive)."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    return value.strip() or None if scheme.lower() in schemes else None


async def json_object(request: Request) -> dict[str, Any] | None:
    """The body as a JSON object (an empty body is an empty object); None when it is not one."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = loads_strict(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def message(code: int, text: str, **extra: Any) -> JSONResponse:
    """``{"message": text}`` with HTTP status ``code``: the error shape GitHub, GitLab and Gitea share."""
    return JSONResponse({"message": text, **extra}, status_code=code)


def optional_str(body: dict[str, Any], key: str) -> str | None:
    """A string field, or None when absent; ValueError when present and not a string."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value
