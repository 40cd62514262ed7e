"""A target's secret never shows in an exception, a log line, a recorded result or a repr."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest
import redis

from tests.worker.targets.helpers import NEW_TOKEN, TOKEN, MutableTokens, Recorder, coding_failure, make_client
from worker.config import TargetConfig
from worker.errors import TargetError
from worker.targets import CallResult, ConfigTokens, TargetClient

ODD_TOKEN = "tok/with+odd&chars=="  # URL-encoding changes it, so both forms must be scrubbed


def echo(status: int, template: str = "bad key {token}") -> Callable[[httpx.Request], httpx.Response]:
    """A server that puts the key it was sent into its error message, as some do."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent = request.headers.get("X-API-KEY") or request.headers.get("Authorization", "")
        return httpx.Response(status, json={"error_msg": template.format(token=sent)})

    return answer


def assert_clean(error: BaseException, *secrets: str) -> None:
    texts = [str(error), repr(error), *map(str, error.args)]
    if isinstance(error, TargetError):
        texts.append(error.message)
    for secret in secrets:
        for text in texts:
            assert secret not in text
            assert secret[:10] not in text


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
def test_an_echoed_token_is_redacted_from_the_error(status: int) -> None:
    with pytest.raises(TargetError) as caught:
        make_client(Recorder([echo(status)])).call("GET", "/x")

    assert "bad key ***" in str(caught.value)
    assert_clean(caught.value, TOKEN)


def test_both_tokens_are_redacted_after_a_401_re_read() -> None:
    tokens = MutableTokens()

    def rotate_and_echo(request: httpx.Request) -> httpx.Response:
        tokens.rotate(NEW_TOKEN if tokens.secret == TOKEN else TOKEN)
        return httpx.Response(401, json={"error_msg": f"old {TOKEN} new {NEW_TOKEN}"})

    with pytest.raises(TargetError) as caught:
        make_client(Recorder([rotate_and_echo]), tokens=tokens).call("GET", "/x")

    assert_clean(caught.value, TOKEN, NEW_TOKEN)


def test_url_encoded_and_basic_forms_are_redacted() -> None:
    tokens = MutableTokens(secret=ODD_TOKEN)
    basic = base64.b64encode(f"bot:{ODD_TOKEN}".encode()).decode()
    answer = httpx.Response(400, json={"error_msg": f"url {quote(ODD_TOKEN, safe='')} header Basic {basic}"})

    with pytest.raises(TargetError) as caught:
        make_client(Recorder([answer]), kind="coding", auth="basic", basic_user="bot", tokens=tokens).call("POST", "/")

    assert_clean(caught.value, ODD_TOKEN, quote(ODD_TOKEN, safe=""), basic)


def test_a_coding_error_message_is_redacted() -> None:
    with pytest.raises(TargetError) as caught:
        make_client(Recorder([coding_failure("InvalidParameter", f"token {TOKEN} is odd")]), kind="coding").call(
            "POST", "/open-api", json={"Action": "X"}
        )

    assert_clean(caught.value, TOKEN)


def test_a_secret_across_the_clip_boundary_is_still_redacted() -> None:
    for padding in range(330, 420, 3):
        answer = httpx.Response(400, json={"error_msg": "x" * padding + TOKEN})
        with pytest.raises(TargetError) as caught:
            make_client(Recorder([answer])).call("GET", "/x")
        assert_clean(caught.value, TOKEN)


def test_a_transport_error_whose_text_holds_the_url_and_token_is_reported_by_type() -> None:
    error = httpx.ConnectError(f"cannot connect to http://admin.test/x?api_key={TOKEN} (X-API-KEY: {TOKEN})")

    with pytest.raises(TargetError) as caught:
        make_client(Recorder([error])).call("GET", "/x")

    assert str(caught.value) == "gw: GET /x failed (ConnectError)"
    assert caught.value.__context__ is None
    assert_clean(caught.value, TOKEN)


def test_no_log_line_holds_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = MutableTokens()

    def rotate_then_ok(request: httpx.Request) -> httpx.Response:
        if request.headers["X-API-KEY"] == TOKEN:
            tokens.rotate()
            return echo(401)(request)
        return httpx.Response(200)

    client = make_client(Recorder([rotate_then_ok]), tokens=tokens)
    client.call("GET", "/x")
    for answer in (echo(500), httpx.ConnectError(f"to {TOKEN}")):
        with pytest.raises(TargetError):
            make_client(Recorder([answer])).call("GET", "/y")

    assert caplog.records  # the client does log its calls
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert NEW_TOKEN not in record.getMessage()


def test_reprs_hold_no_secret() -> None:
    config = TargetConfig(kind="api7", base_url="https://user:pa55word@admin.test:7443/base?api_key=k3y")
    client = TargetClient("prod", config, MutableTokens(), transport=httpx.MockTransport(lambda r: httpx.Response(200)))

    assert repr(client) == "<TargetClient prod api7 https://admin.test:7443/base>"
    assert TOKEN not in repr(client.config)
    assert repr(CallResult(200, {"value": {"token": TOKEN}})) == "CallResult(status_code=200)"


def test_config_secrets_stay_masked_in_reprs() -> None:
    config = TargetConfig(kind="api7", base_url="http://admin.test", token_secret=TOKEN)

    assert TOKEN not in repr(config)
    assert TOKEN not in repr(MutableTokens(secret=TOKEN).current("x"))


def test_a_recorded_failure_holds_no_token(fake_redis: redis.Redis) -> None:
    from tasks import pipeline
    from worker.config import Settings
    from worker.runtime import Runtime
    from worker.store.events import EVENT_KEY, EventRecord, event_fields, new_event_id

    settings = Settings(
        targets={"gw": {"kind": "api7", "base_url": "http://gw.test", "token_secret": TOKEN}},
        rules=[{"name": "r", "on": {"source": "github"}, "do": [{"call": "gw", "method": "GET", "path": "/x"}]}],
    )
    runtime = Runtime(settings, fake_redis, ConfigTokens(settings), transport=httpx.MockTransport(echo(400)))
    record = EventRecord(
        id=new_event_id(), source="github", type="push", delivery_id="d", received_at=1.0, headers={}, payload={}
    )
    fake_redis.hset(EVENT_KEY + record.id, mapping=event_fields(record))  # type: ignore[arg-type]

    pipeline.process(runtime, record.id)

    stored = fake_redis.hgetall(EVENT_KEY + record.id)
    dump = json.dumps({_text(k): _text(v) for k, v in stored.items()})
    assert "bad key ***" in dump
    assert TOKEN not in dump


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
