"""Token alerts through the worker's ``Notifications``: its pooled client, markers given back on failure."""

from __future__ import annotations

import json

import httpx
import redis

from worker.channels import Notifications
from worker.config import Settings
from worker.tokens.checker import TokenChecker
from worker.tokens.notify import Notifier
from worker.tokens.records import TokenRecord
from worker.tokens.store import TokenStore


def test_alerts_go_through_the_given_notifications_and_a_failed_channel_gets_its_marker_back(
    fake_redis: redis.Redis, store: TokenStore, settings: Settings
) -> None:
    seen: list[httpx.Request] = []

    def channels(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # The generic webhook channel answers a redirect: a failure, never followed.
        if request.url.path == "/chat":
            return httpx.Response(302, headers={"Location": "https://elsewhere.test/"})
        return httpx.Response(200, text="ok")

    record: TokenRecord = store.add("gw-token", "gw", "a7ee-secret-value")
    with Notifications(settings.channels, transport=httpx.MockTransport(channels)) as notifications:
        notice = Notifier(store, settings, notifications=notifications).alert(record, "invalid", "token refused")
        pool = notifications._client

    assert (notice.first, notice.sent, notice.failed) == (True, ["ops"], ["chat"])
    assert [request.url.path for request in seen] == ["/ops", "/chat"]
    assert json.loads(seen[0].content) == {"text": "token refused"}
    assert seen[0].headers["Idempotency-Key"].endswith(":alert-invalid:ops")
    assert pool is not None
    assert pool.is_closed
    markers = {key.decode() for key in fake_redis.scan_iter("relay:token:*:sent:*")}
    assert any(key.endswith(":ops") for key in markers)
    assert not any(key.endswith(":chat") for key in markers)  # given back: the next check tries it again


def test_the_checker_hands_its_notifications_to_its_notifier(store: TokenStore, settings: Settings) -> None:
    with Notifications(settings.channels, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as sender:
        checker = TokenChecker(store, settings, notifications=sender)
        assert checker.notifier.notifications is sender
        assert checker.rotator.notifier is checker.notifier
