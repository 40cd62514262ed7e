"""Structured logs: one JSON object per line, with every known secret masked before it is written.

Secrets are registered as they become known (configuration at load, token secrets when decrypted), and the filter
replaces them in the message and in any traceback, so a secret echoed by a server or a library is still hidden.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from pydantic import BaseModel, SecretStr

from worker.redaction import Secrets

_secrets = Secrets()  # every secret this process knows, in every form it could take (worker.redaction)


def register_secret(value: str | SecretStr | None, *, basic_user: str | None = None) -> None:
    """Mask ``value`` in every log line from now on (with ``basic_user``: its HTTP Basic form too)."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if text:
        _secrets.add(text, basic_user=basic_user)


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
    return _secrets.redact(text)


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

    # uvicorn's ``color_message`` repeats the message with ANSI colour codes: noise in a JSON line.
    _standard = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}

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


# --- Following one event: its id on every line logged while it is processed. ------------------------------------

_event_id: ContextVar[str | None] = ContextVar("relay_event_id", default=None)


@contextlib.contextmanager
def event_context(event_id: str) -> Iterator[None]:
    """Every log line inside carries ``event_id`` (as the ``event_id`` field)."""
    token = _event_id.set(event_id)
    try:
        yield
    finally:
        _event_id.reset(token)


def current_event_id() -> str | None:
    """The event being processed by this thread or task, if any."""
    return _event_id.get()


class EventIdFilter(logging.Filter):
    """Adds ``event_id`` to records logged inside ``event_context`` (an explicit ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        event_id = _event_id.get()
        if event_id is not None and not hasattr(record, "event_id"):
            record.event_id = event_id
        return True


class TextFormatter(logging.Formatter):
    """One readable line: time, level, logger, ``[event id]``, message, then any other ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        return readable(json.loads(JsonFormatter().format(record)))


def readable(line: dict[str, Any]) -> str:
    """A JSON log line (as ``JsonFormatter`` writes it) as text for a terminal."""
    fields = dict(line)
    when = str(fields.pop("time", ""))[11:23]
    level = str(fields.pop("level", "")).upper()
    logger = fields.pop("logger", "")
    event = fields.pop("event_id", None)
    message = fields.pop("message", "")
    exception = fields.pop("exception", None)
    extra = " ".join(f"{key}={value}" for key, value in fields.items())
    text = f"{when} {level:<7} {logger}{f' [{event}]' if event else ''} {message}{f'  {extra}' if extra else ''}"
    return text + (f"\n{exception}" if exception else "")


LOG_FORMATS = ("auto", "json", "text")


def _formatter(fmt: str | None, stream: TextIO) -> logging.Formatter:
    """``text`` or ``json``; ``auto`` (the default, or ``RELAY_LOG_FORMAT``) is text on a terminal, JSON otherwise."""
    choice = (fmt or os.environ.get("RELAY_LOG_FORMAT") or "auto").lower()
    if choice == "auto":
        choice = "text" if stream.isatty() else "json"
    return TextFormatter() if choice == "text" else JsonFormatter()


def configure_logging(level: str = "INFO", fmt: str | None = None) -> None:
    """Send every logger's records through the redacting and event-id filters to standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.addFilter(EventIdFilter())
    handler.setFormatter(_formatter(fmt, sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _connect_task_signals() -> None:
    """Lines a worker logs while it runs ``process_event(event_id)`` carry that id, whatever logs them."""
    from celery.signals import task_postrun, task_prerun

    tokens: dict[str, Any] = {}

    def enter(task_id: str = "", task: Any = None, args: Any = None, **_: Any) -> None:
        if getattr(task, "name", "") == "relay.process_event" and args:
            tokens[task_id] = _event_id.set(str(args[0]))

    def leave(task_id: str = "", **_: Any) -> None:
        token = tokens.pop(task_id, None)
        if token is not None:
            with contextlib.suppress(ValueError):  # set in another context: nothing of ours to undo here
                _event_id.reset(token)

    task_prerun.connect(enter, weak=False)
    task_postrun.connect(leave, weak=False)


_connect_task_signals()


def wants_text(stream: TextIO, fmt: str | None = None) -> bool:
    """Whether lines for ``stream`` should be text (``RELAY_LOG_FORMAT``, else text on a terminal)."""
    return isinstance(_formatter(fmt, stream), TextFormatter)
