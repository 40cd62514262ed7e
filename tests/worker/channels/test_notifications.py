"""``Notifications``: one pooled client with its transport fixed at construction; the Runtime owns and closes it."""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from worker.channels import Notifications
from worker.config import ChannelConfig, Settings
from worker.errors import PermanentError, RetryableError
from worker.runtime import Runtime
from worker.targets import ConfigTokens

CHANNELS = {
    "ops": ChannelConfig.model_validate({"kind": "slack", "url": "https://hooks.slack.example/T0/B0/secret-path-0123"}),
    "chat": ChannelConfig.model_validate({"kind": "webhook", "url": "https://hooks.example.com/relay"}),
}
EVENT = {"id": "evt_1", "source": "github", "type": "push", "payload": {"big": "x"}}


class Recorder:
    """A MockTransport handler that records requests and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, text="ok")


def test_send_posts_to_the_named_channel_with_the_event_and_key() -> None:
    recorder = Recorder()
    with Notifications(CHANNELS, transport=httpx.MockTransport(recorder)) as notifications:
        assert notifications.send("chat", "deployed", event=EVENT, idempotency_key="evt_1:r:0") == 200
        assert notifications.send("ops", "deployed") == 200

    chat, ops = recorder.requests
    assert str(chat.url) == "https://hooks.example.com/relay"
    assert json.loads(chat.content) == {
        "text": "deployed",
        "event": {"id": "evt_1", "source": "github", "type": "push"},
    }
    assert chat.headers["Idempotency-Key"] == "evt_1:r:0"
    assert chat.headers["User-Agent"].startswith("Relay")
    assert "Idempotency-Key" not in ops.headers


def test_every_send_goes_through_one_pooled_client() -> None:
    notifications = Notifications(CHANNELS, transport=httpx.MockTransport(Recorder()))
    notifications.send("ops", "one")
    pool = notifications._client
    notifications.send("chat", "two")
    assert pool is not None
    assert notifications._client is pool

    notifications.close()
    assert pool.is_closed
    assert notifications._client is None
    notifications.close()  # twice is harmless


def test_an_unknown_channel_is_a_permanent_error_naming_it() -> None:
    recorder = Recorder()
    with pytest.raises(PermanentError, match="channel 'pager' is not configured"):
        Notifications(CHANNELS, transport=httpx.MockTransport(recorder)).send("pager", "hi")
    assert recorder.requests == []


@pytest.mark.parametrize(("status", "error"), [(302, PermanentError), (404, PermanentError), (503, RetryableError)])
def test_failures_name_the_channel_and_none_of_its_secrets(status: int, error: type[Exception]) -> None:
    notifications = Notifications(CHANNELS, transport=httpx.MockTransport(Recorder(status)))
    with pytest.raises(error) as caught:
        notifications.send("ops", "hi")
    assert str(caught.value).startswith(f"channel 'ops' (slack) answered {status}")
    assert "secret-path-0123" not in str(caught.value)
    assert "secret-path-0123" not in repr(notifications)


def test_the_runtime_builds_its_notifications_with_its_transport_and_closes_them(fake_redis: redis.Redis) -> None:
    recorder = Recorder()
    settings = Settings(channels=_plain())
    runtime = Runtime(settings, fake_redis, ConfigTokens(settings), transport=httpx.MockTransport(recorder))
    closed: list[str] = []
    runtime.tokens.close = lambda: closed.append("tokens")  # type: ignore[attr-defined]

    assert runtime.notifications.send("ops", "hi") == 200
    assert len(recorder.requests) == 1
    pool = runtime.notifications._client
    runtime.close()
    assert pool is not None
    assert pool.is_closed
    assert closed == ["tokens"]


def _plain() -> dict[str, dict[str, object]]:
    return {
        name: {"kind": config.kind, "url": config.url.get_secret_value(), "timeout": config.timeout}
        for name, config in CHANNELS.items()
    }
