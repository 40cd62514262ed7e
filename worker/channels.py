"""Notification channels: each kind gets the body its API expects, signed where the API asks for it.

    kind      body                                                        failure reported as
    slack     {"text": ...}                                               HTTP 4xx/5xx, plain-text reason
    wecom     {"msgtype": "text", "text": {"content": ...}}               errcode != 0 (45009: rate limit)
    dingtalk  {"msgtype": "text", "text": {"content": ...}}               errcode != 0 (130101: rate limit)
              signed: ``timestamp`` (ms) and ``sign`` in the query
    feishu    {"msg_type": "text", "content": {"text": ...}}              code != 0 (11232: rate limit)
              signed: ``timestamp`` (s) and ``sign`` in the body
    webhook   {"text": ..., "event": {"id", "source", "type", ...}}       HTTP status only

A channel's URL embeds its credential (Slack's path, WeCom's ``key``, DingTalk's ``access_token``, Feishu's hook
id), so neither it nor the signing secret appears in an error, and httpx's request log line shows only the host.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from worker.errors import PermanentError, RetryableError
from worker.settings import ChannelConfig
from worker.targets.client import USER_AGENT
from worker.targets.retry import parse_retry_after

WecomType = Literal["text", "markdown"]

# Message size limits in UTF-8 bytes, as each API documents them (Feishu's is for the whole body: leave room).
TEXT_LIMITS: dict[str, int] = {"slack": 40000, "dingtalk": 20000, "feishu": 18000, "webhook": 1 << 20}
WECOM_LIMITS: dict[str, int] = {"text": 2048, "markdown": 4096}
# Codes that mean "too many messages, try later" or "busy"; every other non-zero code is permanent.
RETRYABLE_CODES: dict[str, frozenset[int]] = {
    "wecom": frozenset({-1, 45009, 45033}),
    "dingtalk": frozenset({-1, 130101}),
    "feishu": frozenset({11232, 230020}),
}
EVENT_FIELDS = ("id", "source", "type", "delivery_id", "received_at")


def notification_body(
    config: ChannelConfig, text: str, *, event: Mapping[str, Any] | None = None, wecom_type: WecomType = "text"
) -> dict[str, Any]:
    """The JSON body for ``text`` in the channel kind's format (unsigned)."""
    if config.kind == "wecom":
        return {"msgtype": wecom_type, wecom_type: {"content": truncate(text, WECOM_LIMITS[wecom_type])}}
    text = truncate(text, TEXT_LIMITS[config.kind])
    if config.kind == "dingtalk":
        return {"msgtype": "text", "text": {"content": text}}
    if config.kind == "feishu":
        return {"msg_type": "text", "content": {"text": text}}
    if config.kind == "webhook":
        return {"text": text, "event": {key: event[key] for key in EVENT_FIELDS if key in event} if event else {}}
    return {"text": text}


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, ending with an ellipsis when cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign``: base64 of HMAC-SHA256 keyed with the secret over ``"{timestamp}\\n{secret}"``."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_signature(secret: str, timestamp_s: int) -> str:
    """Feishu's ``sign``: base64 of HMAC-SHA256 keyed with ``"{timestamp}\\n{secret}"`` over an empty message."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


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
) -> tuple[httpx.URL, dict[str, Any]]:
    """The URL and body to post, signed when the channel has a secret (DingTalk in the URL, Feishu in the body)."""
    url = channel_url(config)
    # A settings field may choose WeCom's markdown later; plain text is what every other kind sends.
    body = notification_body(config, text, event=event, wecom_type=config.msgtype)
    if config.secret is None:
        return url, body
    secret = config.secret.get_secret_value()
    moment = time.time() if now is None else now
    if config.kind == "dingtalk":
        stamp = int(moment * 1000)
        url = url.copy_merge_params({"timestamp": str(stamp), "sign": dingtalk_signature(secret, stamp)})
    elif config.kind == "feishu":
        stamp = int(moment)
        body = {"timestamp": str(stamp), "sign": feishu_signature(secret, stamp), **body}
    return url, body


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
    if status == 429 or status >= 500:
        raise RetryableError(
            f"{where} answered {status}: {_reason(config, response)}",
            status_code=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    code, message = _error_code(config, response)
    if code:
        error = RetryableError if code in RETRYABLE_CODES.get(config.kind, ()) else PermanentError
        raise error(
            f"{where} refused the message: code {code}: {_redact(config, message)}", status_code=status, code=str(code)
        )
    if status >= 400:
        raise PermanentError(f"{where} answered {status}: {_reason(config, response)}", status_code=status)


def _error_code(config: ChannelConfig, response: httpx.Response) -> tuple[int | None, str]:
    """The API's own error code and message from a JSON answer (WeCom/DingTalk ``errcode``, Feishu ``code``)."""
    if config.kind not in RETRYABLE_CODES:
        return None, ""
    try:
        body = response.json()
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    # Feishu answers ``code``/``msg``; its older custom bots ``StatusCode``/``StatusMessage``.
    for code_key, message_key in (("errcode", "errmsg"), ("code", "msg"), ("StatusCode", "StatusMessage")):
        code = body.get(code_key)
        if isinstance(code, int) and not isinstance(code, bool):
            return code, str(body.get(message_key) or "")
    return None, ""


def _reason(config: ChannelConfig, response: httpx.Response) -> str:
    code, message = _error_code(config, response)
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
    for part in sorted(parts, key=len, reverse=True):
        if part:
            text = text.replace(part, "***")
    return text


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
    """This process's pooled client for notifications; a forked child makes its own instead of sharing sockets."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), httpx.Client(headers={"User-Agent": USER_AGENT}, follow_redirects=False))
        return _shared[1]


def close_shared_client() -> None:
    """Close this process's notification client, if it has one."""
    global _shared
    with _shared_lock:
        if _shared is not None and _shared[0] == os.getpid():
            _shared[1].close()
        _shared = None
