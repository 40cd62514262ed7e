"""Posting a notification: the signed request, what the answer means, and secrets kept out of errors and logs.

A channel's URL embeds its credential (Slack's path, WeCom's ``key``, DingTalk's ``access_token``, Feishu's hook
id), so neither it nor the signing secret appears in an error, and httpx's request log line shows only the host.
Redirects are never followed: a 3xx is a failure naming where it pointed, without its query or user information.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from worker.channels.kinds import Body, WecomType, kind_of
from worker.config import ChannelConfig
from worker.errors import PermanentError, RetryableError
from worker.http_answer import Meaning, classify
from worker.redaction import redact
from worker.targets.client import USER_AGENT


def notification_body(
    config: ChannelConfig, text: str, *, event: Mapping[str, Any] | None = None, wecom_type: WecomType = "text"
) -> Body:
    """The JSON body for ``text`` in the channel kind's format (unsigned)."""
    return kind_of(config.kind).body(text, event=event, msgtype=wecom_type)


def channel_url(config: ChannelConfig) -> httpx.URL:
    """The channel's URL; ``ValueError`` (naming no part of it) unless it is an absolute http(s) URL."""
    try:
        url = httpx.URL(config.url.get_secret_value())
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValueError("the url is not an absolute http(s) URL")
    return url


def prepare(
    config: ChannelConfig,
    text: str,
    *,
    event: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> tuple[httpx.URL, Body]:
    """The URL and body to post, signed when the channel has a secret (DingTalk in the URL, Feishu in the body)."""
    url = channel_url(config)
    body = notification_body(config, text, event=event, wecom_type=config.msgtype)
    if config.secret is None:
        return url, body
    moment = time.time() if now is None else now
    return kind_of(config.kind).sign(url, body, config.secret.get_secret_value(), moment)


def new_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A pooled client for notifications: Relay's User-Agent, redirects never followed."""
    return httpx.Client(headers={"User-Agent": USER_AGENT}, follow_redirects=False, transport=transport)


def send_notification(
    config: ChannelConfig,
    text: str,
    *,
    channel: str = "",
    event: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    client: httpx.Client | None = None,
    now: float | None = None,
) -> int:
    """Post ``text`` to the channel; returns the HTTP status or raises a ``TargetError`` free of secrets."""
    where = f"channel {channel!r} ({config.kind})" if channel else f"channel ({config.kind})"
    try:
        url, body = prepare(config, text, event=event, now=now)
    except ValueError as exc:
        raise PermanentError(f"{where}: {exc}") from None
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    _REDACT.watch(url)
    try:
        response = (client or shared_client()).post(url, json=body, headers=headers, timeout=config.timeout)
    except httpx.TimeoutException as exc:
        raise RetryableError(f"{where} timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise RetryableError(f"{where} unreachable ({type(exc).__name__})") from None
    check_answer(config, response, where)
    return response.status_code


def check_answer(config: ChannelConfig, response: httpx.Response, where: str) -> None:
    """Raise ``RetryableError`` or ``PermanentError`` for a failed delivery, including a 200 with an error code."""
    status = response.status_code
    answer = classify(status, response.headers)
    if answer.meaning == Meaning.RETRY:
        # Never ``maybe_applied`` (nor are the timeouts above): a failed notification is simply sent again.
        raise RetryableError(
            f"{where} answered {status}: {_reason(config, response)}",
            status_code=status,
            retry_after=answer.retry_after,
        )
    if answer.meaning == Meaning.REDIRECT:
        # Not followed: the URL's credential must not travel to another address, and the message was not delivered.
        location = _redact(config, safe_location(response.headers.get("Location", ""))) or "elsewhere"
        raise PermanentError(
            f"{where} answered {status}: redirect to {location}, not followed (fix the channel's url)",
            status_code=status,
        )
    kind = kind_of(config.kind)
    code, message = kind.error_code(response)
    if code:
        error = RetryableError if code in kind.retryable_codes else PermanentError
        raise error(
            f"{where} refused the message: code {code}: {_redact(config, message)}", status_code=status, code=str(code)
        )
    if answer.meaning in (Meaning.AUTH, Meaning.PERMANENT):
        raise PermanentError(f"{where} answered {status}: {_reason(config, response)}", status_code=status)


def safe_location(location: str) -> str:
    """A redirect's target without user information, query or fragment (any of them may carry a credential)."""
    try:
        parsed = httpx.URL(location.strip())
    except httpx.InvalidURL:
        return ""
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


def _reason(config: ChannelConfig, response: httpx.Response) -> str:
    code, message = kind_of(config.kind).error_code(response)
    if code:
        return f"code {code}: {_redact(config, message)}"
    text = response.text.strip()[:200]
    return _redact(config, text) if text else response.reason_phrase or "no body"


def _redact(config: ChannelConfig, text: str) -> str:
    """Mask the channel's URL, its credential-bearing parts and its signing secret wherever a server echoed them."""
    url = httpx.URL(config.url.get_secret_value())
    parts = [str(url), *(value for _, value in url.params.multi_items() if len(value) >= 6)]
    parts += [segment for segment in url.path.split("/") if len(segment) >= 12]
    if config.secret is not None:
        parts.append(config.secret.get_secret_value())
    return redact(text, parts)


class _RedactChannelUrls(logging.Filter):
    """httpx logs every request's full URL at INFO level; for channel URLs only the host is kept."""

    def __init__(self) -> None:
        super().__init__()
        self._urls: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def watch(self, url: httpx.URL) -> None:
        """Remember a channel URL (scheme, host, path) so that its log lines are masked."""
        with self._lock:
            self._urls.add((url.scheme, url.host, url.path))

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace a watched URL among the record's arguments by ``scheme://host/***``."""
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(self._mask(arg) for arg in record.args)
        return True

    def _mask(self, value: object) -> object:
        if isinstance(value, httpx.URL) and (value.scheme, value.host, value.path) in self._urls:
            return f"{value.scheme}://{value.host}/***"
        return value


_REDACT = _RedactChannelUrls()
logging.getLogger("httpx").addFilter(_REDACT)

_shared: tuple[int, httpx.Client] | None = None
_shared_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """This process's pooled client for callers without a ``Notifications``; a forked child makes its own."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), new_client())
        return _shared[1]


def close_shared_client() -> None:
    """Close this process's shared notification client, if it has one."""
    global _shared
    with _shared_lock:
        if _shared is not None and _shared[0] == os.getpid():
            _shared[1].close()
        _shared = None
