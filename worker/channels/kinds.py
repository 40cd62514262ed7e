"""Channel kinds: one small class per kind builds its body, signs it and reads its API's error code.

    kind      body                                                        failure reported as
    slack     {"text": ...}                                               HTTP 4xx/5xx, plain-text reason
    wecom     {"msgtype": "text", "text": {"content": ...}}               errcode != 0 (45009: rate limit)
    dingtalk  {"msgtype": "text", "text": {"content": ...}}               errcode != 0 (130101: rate limit)
              signed: ``timestamp`` (ms) and ``sign`` in the query
    feishu    {"msg_type": "text", "content": {"text": ...}}              code != 0 (11232: rate limit)
              signed: ``timestamp`` (s) and ``sign`` in the body
    webhook   {"text": ..., "event": {"id", "source", "type", ...}}       HTTP status only

A new kind is one class here, one row in ``CHANNEL_KINDS`` and its name in the settings' ``ChannelKindName``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx

WecomType = Literal["text", "markdown"]
Body = dict[str, Any]

EVENT_FIELDS = ("id", "source", "type", "delivery_id", "received_at")
# Feishu answers ``code``/``msg``; its older custom bots ``StatusCode``/``StatusMessage``; WeCom and DingTalk
# ``errcode``/``errmsg``.
_CODE_KEYS = (("errcode", "errmsg"), ("code", "msg"), ("StatusCode", "StatusMessage"))


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


class ChannelKind:
    """A kind with a plain ``{"text": ...}`` body, no signing and no error code of its own (Slack's shape)."""

    name: ClassVar[str] = "slack"
    # Message size limit in UTF-8 bytes, as the API documents it.
    limit: ClassVar[int] = 40000
    # Codes meaning "too many messages, try later" or "busy"; every other non-zero code is permanent.
    retryable_codes: ClassVar[frozenset[int]] = frozenset()

    def body(self, text: str, *, event: Mapping[str, Any] | None = None, msgtype: WecomType = "text") -> Body:
        """The JSON body for ``text`` in this kind's format (unsigned)."""
        return {"text": truncate(text, self.limit)}

    def sign(self, url: httpx.URL, body: Body, secret: str, moment: float) -> tuple[httpx.URL, Body]:
        """The URL and body carrying the signature; unchanged for kinds that sign nothing."""
        return url, body

    def error_code(self, response: httpx.Response) -> tuple[int | None, str]:
        """The API's own error code and message from its answer; ``(None, "")`` when there is none."""
        return None, ""


class _CodedAnswers(ChannelKind):
    """A kind whose API answers a JSON body with an error code (often with HTTP 200)."""

    def error_code(self, response: httpx.Response) -> tuple[int | None, str]:
        """The first integer code among the API's code fields, with its message."""
        try:
            body = response.json()
        except ValueError:
            return None, ""
        if not isinstance(body, dict):
            return None, ""
        for code_key, message_key in _CODE_KEYS:
            code = body.get(code_key)
            if isinstance(code, int) and not isinstance(code, bool):
                return code, str(body.get(message_key) or "")
        return None, ""


class Slack(ChannelKind):
    """Slack incoming webhooks: the URL's path is the credential."""


class Wecom(_CodedAnswers):
    """WeCom group bots: text or markdown, each with its own limit; the ``key`` query parameter is the credential."""

    name = "wecom"
    limits: ClassVar[dict[str, int]] = {"text": 2048, "markdown": 4096}
    retryable_codes = frozenset({-1, 45009, 45033})

    def body(self, text: str, *, event: Mapping[str, Any] | None = None, msgtype: WecomType = "text") -> Body:
        """``{"msgtype": t, t: {"content": ...}}`` for ``t`` text or markdown."""
        return {"msgtype": msgtype, msgtype: {"content": truncate(text, self.limits[msgtype])}}


class Dingtalk(_CodedAnswers):
    """DingTalk custom robots: signed in the query (``timestamp`` in ms and ``sign``)."""

    name = "dingtalk"
    limit = 20000
    retryable_codes = frozenset({-1, 130101})

    def body(self, text: str, *, event: Mapping[str, Any] | None = None, msgtype: WecomType = "text") -> Body:
        """``{"msgtype": "text", "text": {"content": ...}}``."""
        return {"msgtype": "text", "text": {"content": truncate(text, self.limit)}}

    def sign(self, url: httpx.URL, body: Body, secret: str, moment: float) -> tuple[httpx.URL, Body]:
        """Add ``timestamp`` and ``sign`` to the query, keeping the ``access_token``."""
        stamp = int(moment * 1000)
        return url.copy_merge_params({"timestamp": str(stamp), "sign": dingtalk_signature(secret, stamp)}), body


class Feishu(_CodedAnswers):
    """Feishu (Lark) custom bots: signed in the body (``timestamp`` in seconds and ``sign``)."""

    name = "feishu"
    limit = 18000  # Feishu's limit is for the whole body: leave room.
    retryable_codes = frozenset({11232, 230020})

    def body(self, text: str, *, event: Mapping[str, Any] | None = None, msgtype: WecomType = "text") -> Body:
        """``{"msg_type": "text", "content": {"text": ...}}``."""
        return {"msg_type": "text", "content": {"text": truncate(text, self.limit)}}

    def sign(self, url: httpx.URL, body: Body, secret: str, moment: float) -> tuple[httpx.URL, Body]:
        """Put ``timestamp`` and ``sign`` first in the body."""
        stamp = int(moment)
        return url, {"timestamp": str(stamp), "sign": feishu_signature(secret, stamp), **body}


class Webhook(ChannelKind):
    """Any HTTP receiver: the text and the event's identifying fields (never its payload or headers)."""

    name = "webhook"
    limit = 1 << 20

    def body(self, text: str, *, event: Mapping[str, Any] | None = None, msgtype: WecomType = "text") -> Body:
        """``{"text": ..., "event": {id, source, type, delivery_id, received_at}}``."""
        fields = {key: event[key] for key in EVENT_FIELDS if key in event} if event else {}
        return {"text": truncate(text, self.limit), "event": fields}


CHANNEL_KINDS: dict[str, ChannelKind] = {
    kind.name: kind for kind in (Slack(), Wecom(), Dingtalk(), Feishu(), Webhook())
}


def kind_of(name: str) -> ChannelKind:
    """The implementation of channel kind ``name`` (``KeyError`` for one the settings would not accept)."""
    return CHANNEL_KINDS[name]
