"""Structured logs: one JSON object per line, with every known secret masked before it is written.

Secrets are registered as they become known (configuration at load, token secrets when decrypted), and the filter
replaces them in the message and in any traceback, so a secret echoed by a server or a library is still hidden.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, SecretStr

MASK = "***"
_MIN_SECRET_LENGTH = 4  # masking shorter strings would garble ordinary words
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | SecretStr | None) -> None:
    """Mask ``value`` in every log line from now on."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if text and len(text) >= _MIN_SECRET_LENGTH:
        # Also the forms JSON escaping gives it (``"`` and ``\`` escaped, non-ASCII as \uXXXX), in case a value
        # is serialised before it is masked.
        forms = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
        with _lock:
            _secrets.update(forms)


def register_model_secrets(model: BaseModel) -> None:
    """Register every ``SecretStr`` found anywhere inside a settings model."""
    for text in secret_values(model):
        register_secret(text)


def secret_values(model: BaseModel) -> set[str]:
    """The non-empty value of every ``SecretStr`` anywhere inside a model (nested models, dicts, lists)."""
    found: set[str] = set()
    _walk(model, found)
    return found


def _walk(value: Any, found: set[str]) -> None:
    if isinstance(value, SecretStr):
        if text := value.get_secret_value():
            found.add(text)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _walk(getattr(value, name), found)
    elif isinstance(value, dict):
        for item in value.values():
            _walk(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, found)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Renders the message once, masks secrets in it and in the traceback, and drops the raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _standard = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # ``extra`` fields are masked before they are serialised, whatever their shape.
        line.update({key: _masked(value) for key, value in vars(record).items() if key not in self._standard})
        if record.exc_text:
            line["exception"] = record.exc_text
        return redact(json.dumps(line, default=str))


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(key): _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_masked(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records through the redacting filter to standard error as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
