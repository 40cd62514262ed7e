"""Token scopes in CODING's ``resource:scope:ro|rw`` form: parsing them, and whether a token grants a call's.

``parse_scope`` is the one grammar: a rule's ``requires``, ``relay tokens add/edit --scopes`` and the check before a
call all read scopes with it. CODING's scope values (``user:profile:ro``, ``project:public-key:rw``, its access
token documentation) are dotted names of letters, digits, ``_ . -`` with an optional ``:ro``/``:rw``; case is
ignored; there is no wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from worker.errors import PermanentError, RuleError
from worker.targets.tokens import TokenSource
from worker.tokens.store import TokenStore

_SCOPE = re.compile(r"[a-z0-9_.-]+(?::[a-z0-9_.-]+)*")
_LEVELS = {"ro": 1, "rw": 2}


def parse_scope(scope: str) -> tuple[str, str | None]:
    """``resource:scope:ro|rw`` as (name, access); access is None for a scope without ``:ro``/``:rw``."""
    text = scope.strip().lower()
    if not _SCOPE.fullmatch(text):
        raise ValueError(f"scope {scope!r} is not of the form resource:scope:ro|rw")
    name, _, access = text.rpartition(":")
    if name and access in _LEVELS:
        return name, access
    return text, None


def parse_scope_list(text: str) -> list[str]:
    """Comma-separated scopes as an operator types them, each checked by ``parse_scope``; kept as typed."""
    scopes = [part.strip() for part in text.split(",") if part.strip()]
    for scope in scopes:
        parse_scope(scope)
    return scopes


def missing_scopes(required: Iterable[str], granted: Iterable[str]) -> list[str]:
    """The required scopes that ``granted`` does not cover, in order; ``rw`` implies ``ro``.

    A granted scope without an access suffix counts as ``rw``; a required one as ``ro`` (any access will do).
    Granted scopes Relay cannot read grant nothing; a malformed required scope raises ``ValueError``.
    """
    levels: dict[str, int] = {}
    for scope in granted:
        try:
            name, access = parse_scope(scope)
        except ValueError:
            continue
        levels[name] = max(levels.get(name, 0), _LEVELS[access or "rw"])
    missing: list[str] = []
    for scope in required:
        name, access = parse_scope(scope)
        if levels.get(name, 0) < _LEVELS[access or "ro"] and scope not in missing:
            missing.append(scope)
    return missing


def granted_scopes(tokens: TokenSource, token_name: str) -> set[str] | None:
    """The scopes the token is known to grant; None when unknown, which never blocks a call."""
    if not isinstance(tokens, TokenStore):
        return None
    record = tokens.find(token_name)
    return set(record.scopes) if record is not None and record.scopes else None


def require_scopes(tokens: TokenSource, token_name: str, *, target: str, required: Sequence[str]) -> None:
    """Fail at once, naming the missing scopes, when the token is known not to grant ``required``.

    Raises ``PermanentError`` for a known lack of scope, ``RuleError`` for a malformed required scope.
    """
    if not required:
        return
    granted = granted_scopes(tokens, token_name)
    if granted is None:
        return
    try:
        missing = missing_scopes(required, granted)
    except ValueError as exc:
        raise RuleError(f"requires: {exc}") from None
    if missing:
        raise PermanentError(
            f"{target}: token {token_name!r} does not grant the required scope(s) {', '.join(missing)}"
        )
