"""Notification channels: each kind's body, DingTalk's and Feishu's signing, error mapping, secrets kept out."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from worker.channels import client as channels
from worker.channels import (
    dingtalk_signature,
    feishu_signature,
    notification_body,
    prepare,
    send_notification,
    truncate,
)
from worker.config import ChannelConfig
from worker.errors import PermanentError, RetryableError, TargetError

URLS = {
    "slack": "https://hooks.slack.com/services/T0001/B0001/XXXXXXXXXXXXXXXXXXXXXXXX",
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
    "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef0123456789abcdef",
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "webhook": "https://hooks.example.com/relay/4f9c1d2e8a7b6c5d",
}
CREDENTIALS = {
    "slack": "XXXXXXXXXXXXXXXXXXXXXXXX",
    "wecom": "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
    "dingtalk": "0123456789abcdef0123456789abcdef",
    "feishu": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "webhook": "4f9c1d2e8a7b6c5d",
}
DINGTALK_SECRET = "SEC0123456789abcdef"
FEISHU_SECRET = "feishu-sign-secret"
EVENT = {"id": "evt_1", "source": "gitlab", "type": "Pipeline Hook", "delivery_id": "d-1", "received_at": 1.5}


def channel(kind: str, secret: str | None = None) -> ChannelConfig:
    return ChannelConfig.model_validate({"kind": kind, "url": URLS[kind], "secret": secret})


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("slack", {"text": "Build failed ❌"}),
        ("wecom", {"msgtype": "text", "text": {"content": "Build failed ❌"}}),
        ("dingtalk", {"msgtype": "text", "text": {"content": "Build failed ❌"}}),
        ("feishu", {"msg_type": "text", "content": {"text": "Build failed ❌"}}),
        ("webhook", {"text": "Build failed ❌", "event": EVENT}),
    ],
)
def test_each_kind_gets_its_body_format(kind: str, body: dict[str, Any]) -> None:
    assert notification_body(channel(kind), "Build failed ❌", event=EVENT) == body


def test_the_generic_webhook_carries_only_minimal_event_information() -> None:
    event = {**EVENT, "payload": {"big": "x"}, "headers": {"x-token": "secret"}}
    assert notification_body(channel("webhook"), "t", event=event)["event"] == EVENT
    assert notification_body(channel("webhook"), "t") == {"text": "t", "event": {}}


def test_wecom_markdown_is_available_to_callers() -> None:
    assert notification_body(channel("wecom"), "**bold**", wecom_type="markdown") == {
        "msgtype": "markdown",
        "markdown": {"content": "**bold**"},
    }


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("0123456789abc", 10, "0123456…"),
        ("构建失败构建失败", 10, "构建…"),  # never cuts a character in half
    ],
)
def test_truncate_counts_utf8_bytes(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit).encode()) <= limit


def test_wecom_text_is_cut_to_its_2048_byte_limit() -> None:
    content = notification_body(channel("wecom"), "错" * 1000)["text"]["content"]
    assert len(content.encode()) <= 2048
    assert content.endswith("…")


def test_dingtalk_signature_known_value() -> None:
    assert dingtalk_signature(DINGTALK_SECRET, 1715680012000) == "Ev8SysyH29wKiQ/bDJT5NVghI7z6agtuftZFxVh4qx8="


def test_feishu_signature_known_value() -> None:
    assert feishu_signature(FEISHU_SECRET, 1715680012) == "MArJpJbrc/QSWBReReOORKPoZbpmtAiB0nD7Bnrh8m4="


def test_dingtalk_signs_in_the_query_keeping_the_access_token() -> None:
    url, body = prepare(channel("dingtalk", DINGTALK_SECRET), "hi", now=1715680012.0)
    assert url.params["access_token"] == CREDENTIALS["dingtalk"]
    assert url.params["timestamp"] == "1715680012000"
    assert url.params["sign"] == "Ev8SysyH29wKiQ/bDJT5NVghI7z6agtuftZFxVh4qx8="
    assert b"sign=Ev8SysyH29wKiQ%2FbDJT5NVghI7z6agtuftZFxVh4qx8%3D" in url.query  # URL-encoded
    assert body == {"msgtype": "text", "text": {"content": "hi"}}


def test_feishu_signs_in_the_body() -> None:
    url, body = prepare(channel("feishu", FEISHU_SECRET), "hi", now=1715680012.9)
    assert str(url) == URLS["feishu"]
    assert body == {
        "timestamp": "1715680012",
        "sign": "MArJpJbrc/QSWBReReOORKPoZbpmtAiB0nD7Bnrh8m4=",
        "msg_type": "text",
        "content": {"text": "hi"},
    }


@pytest.mark.parametrize("kind", ["dingtalk", "feishu"])
def test_without_a_secret_nothing_is_signed(kind: str) -> None:
    url, body = prepare(channel(kind), "hi")
    assert str(url) == URLS[kind]
    assert "sign" not in body


def _send(
    config: ChannelConfig,
    handler: Callable[[httpx.Request], httpx.Response],
    **options: Any,
) -> int:
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        return send_notification(config, "Pipeline #31 failed", client=client, **options)


def test_send_posts_the_signed_body_with_the_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    status = _send(channel("dingtalk", DINGTALK_SECRET), handler, idempotency_key="evt_1:r:0", now=1715680012.0)

    assert status == 200
    assert seen[0].method == "POST"
    assert seen[0].url.params["sign"] == "Ev8SysyH29wKiQ/bDJT5NVghI7z6agtuftZFxVh4qx8="
    assert seen[0].headers["Idempotency-Key"] == "evt_1:r:0"
    assert seen[0].headers["Content-Type"] == "application/json"
    assert json.loads(seen[0].content) == {"msgtype": "text", "text": {"content": "Pipeline #31 failed"}}


@pytest.mark.parametrize(
    ("kind", "status", "answer", "expected"),
    [
        ("slack", 200, "ok", None),
        ("slack", 404, "no_service", PermanentError),
        ("slack", 400, "invalid_payload", PermanentError),
        ("slack", 403, "action_prohibited", PermanentError),
        ("slack", 429, "rate_limited", RetryableError),
        ("slack", 500, "", RetryableError),
        ("wecom", 200, {"errcode": 0, "errmsg": "ok"}, None),
        ("wecom", 200, {"errcode": 45009, "errmsg": "api freq out of limit"}, RetryableError),
        ("wecom", 200, {"errcode": -1, "errmsg": "system busy"}, RetryableError),
        ("wecom", 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, PermanentError),
        ("wecom", 200, {"errcode": 40008, "errmsg": "invalid message type"}, PermanentError),
        ("dingtalk", 200, {"errcode": 0, "errmsg": "ok"}, None),
        ("dingtalk", 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, RetryableError),
        ("dingtalk", 200, {"errcode": 310000, "errmsg": "sign not match"}, PermanentError),
        ("dingtalk", 200, {"errcode": 300001, "errmsg": "token is not exist"}, PermanentError),
        ("feishu", 200, {"code": 0, "msg": "success", "data": {}}, None),
        ("feishu", 200, {"StatusCode": 0, "StatusMessage": "success"}, None),
        ("feishu", 200, {"code": 19021, "msg": "sign match fail"}, PermanentError),
        ("feishu", 400, {"code": 11232, "msg": "frequency limited"}, RetryableError),  # 400 with a rate-limit code
        ("feishu", 400, {"code": 9499, "msg": "Bad Request"}, PermanentError),
        ("feishu", 200, {"StatusCode": 19024, "StatusMessage": "Key Words Not Found"}, PermanentError),
        ("webhook", 204, "", None),
        ("webhook", 200, {"errcode": 1}, None),  # a generic receiver's body is not interpreted
        ("webhook", 410, "gone", PermanentError),
        ("webhook", 503, "", RetryableError),
    ],
)
def test_answers_map_to_success_or_the_right_error(
    kind: str, status: int, answer: Any, expected: type[TargetError] | None
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, dict):
            return httpx.Response(status, json=answer)
        return httpx.Response(status, text=answer)

    if expected is None:
        assert _send(channel(kind), handler, channel="ops") == status
        return
    with pytest.raises(TargetError) as caught:
        _send(channel(kind), handler, channel="ops")
    assert type(caught.value) is expected
    assert str(caught.value).startswith(f"channel 'ops' ({kind})")
    assert caught.value.status_code == status
    if isinstance(answer, dict) and answer.get("errcode", answer.get("code", answer.get("StatusCode"))):
        message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage")
        assert f": {message}" in str(caught.value)


@pytest.mark.parametrize(
    "url", ["oapi.dingtalk.com/robot/send?access_token=abc123456", "ftp://x/abc123456", "/abc123456"]
)
def test_a_url_that_cannot_work_fails_for_good_without_showing_it(url: str) -> None:
    config = ChannelConfig.model_validate({"kind": "dingtalk", "url": url})
    with pytest.raises(PermanentError) as caught:
        _send(config, lambda r: pytest.fail("nothing should be sent"), channel="ops")
    assert str(caught.value) == "channel 'ops' (dingtalk): the url is not an absolute http(s) URL"


def test_retry_after_is_kept_from_a_429() -> None:
    with pytest.raises(RetryableError) as caught:
        _send(channel("slack"), lambda r: httpx.Response(429, headers={"Retry-After": "30"}, text="rate_limited"))
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize("kind", sorted(URLS))
def test_the_url_and_the_secret_never_appear_in_errors(kind: str) -> None:
    secret = "sig-secret-0123456789"
    config = channel(kind, secret)

    def echo(request: httpx.Request) -> httpx.Response:
        # A server that echoes what it got, as error pages sometimes do.
        echoed = f"bad request to {request.url} with {secret} and {CREDENTIALS[kind]}"
        if kind in ("wecom", "dingtalk"):
            return httpx.Response(200, json={"errcode": 40001, "errmsg": echoed})
        if kind == "feishu":
            return httpx.Response(200, json={"code": 19001, "msg": echoed})
        return httpx.Response(400, text=echoed)

    with pytest.raises(PermanentError) as caught:
        _send(config, echo, channel="ops")
    message = str(caught.value)
    assert CREDENTIALS[kind] not in message
    assert secret not in message
    assert URLS[kind] not in message
    assert "***" in message


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        (httpx.ConnectError("connection refused to https://oapi.dingtalk.com/robot/send?access_token=x"),
         "unreachable (ConnectError)"),
        (httpx.ReadTimeout("timed out"), "timed out (ReadTimeout)"),
    ],
)  # fmt: skip
def test_network_failures_are_retryable_and_name_no_url(exception: Exception, message: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    with pytest.raises(RetryableError) as caught:
        _send(channel("dingtalk", DINGTALK_SECRET), handler, channel="ops")
    assert str(caught.value) == f"channel 'ops' (dingtalk) {message}"


def test_httpx_request_logs_show_only_the_channel_host(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    for kind in URLS:
        _send(channel(kind, "sig-secret"), lambda r: httpx.Response(200, json={"errcode": 0, "code": 0}))
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        client.get("https://api7.example.com/api/gateway_groups")  # other requests are logged as usual

    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert len(lines) == len(URLS) + 1
    assert not [line for line in lines if any(credential in line for credential in CREDENTIALS.values())]
    assert any("https://oapi.dingtalk.com/***" in line for line in lines)
    assert any("https://api7.example.com/api/gateway_groups" in line for line in lines)


def test_one_pooled_client_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    channels.close_shared_client()
    first = channels.shared_client()
    assert channels.shared_client() is first

    monkeypatch.setattr(os, "getpid", lambda: -1)  # as if in a forked child
    child = channels.shared_client()
    assert child is not first
    assert not first.is_closed  # the parent's sockets are left alone
    channels.close_shared_client()
    assert child.is_closed
    monkeypatch.undo()
    channels.close_shared_client()


def test_send_uses_the_shared_client_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    client = httpx.Client(transport=httpx.MockTransport(handler))
    monkeypatch.setattr(channels, "shared_client", lambda: client)

    assert send_notification(channel("slack"), "hello", channel="ops") == 200
    assert json.loads(seen[0].content) == {"text": "hello"}
    client.close()


@pytest.mark.parametrize("kind", sorted(URLS))
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_and_is_not_followed(kind: str, status: int) -> None:
    seen: list[httpx.Request] = []
    secret = "sig-secret-0123456789"
    # Where a misconfigured proxy might point: credentials in the user part and the query, and the channel URL.
    location = f"https://relay:hunter2@login.example.com/sso?next={URLS[kind]}&token=tok-0123456789"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers={"Location": location}, json={"errcode": 0, "code": 0})

    with pytest.raises(PermanentError) as caught:
        _send(channel(kind, secret), handler, channel="ops")
    message = str(caught.value)
    assert message == (
        f"channel 'ops' ({kind}) answered {status}: redirect to https://login.example.com/sso, "
        "not followed (fix the channel's url)"
    )
    assert caught.value.status_code == status
    assert len(seen) == 1  # never followed


def test_a_redirect_back_into_the_channel_url_shows_none_of_its_secret_parts() -> None:
    location = URLS["slack"] + "/again"

    with pytest.raises(PermanentError) as caught:
        _send(channel("slack"), lambda r: httpx.Response(302, headers={"Location": location}), channel="ops")
    assert CREDENTIALS["slack"] not in str(caught.value)
    assert "redirect to ***/again" in str(caught.value)


def test_a_redirect_without_a_location_says_elsewhere() -> None:
    with pytest.raises(PermanentError, match="redirect to elsewhere, not followed"):
        _send(channel("webhook"), lambda r: httpx.Response(302), channel="ops")
