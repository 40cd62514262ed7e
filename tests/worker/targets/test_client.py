"""TargetClient over httpx.MockTransport: the failure mapping, the 401 re-read, and what every call sends."""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.worker.targets.helpers import (
    NEW_TOKEN,
    TOKEN,
    MutableTokens,
    Recorder,
    coding_failure,
    make_client,
    value,
)
from worker.errors import AuthError, PermanentError, RetryableError, TargetError
from worker.targets import Credential
from worker.targets.client import USER_AGENT
from worker.targets.kinds import KINDS


def test_a_2xx_answer_is_returned_with_its_json_body() -> None:
    client = make_client(Recorder([value({"id": "g1"})]))

    result = client.call("GET", "/api/gateway_groups/g1")

    assert result.status_code == 200
    assert result.body == {"value": {"id": "g1"}}


@pytest.mark.parametrize("answer", [httpx.Response(204), httpx.Response(200, text="<html>ok</html>")])
def test_an_empty_or_non_json_body_is_none(answer: httpx.Response) -> None:
    assert make_client(Recorder([answer])).call("DELETE", "/x").body is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_429_and_5xx_are_retryable_with_the_status(status: int) -> None:
    recorder = Recorder([httpx.Response(status, json={"error_msg": "busy right now"})])

    with pytest.raises(RetryableError) as caught:
        make_client(recorder).call("POST", "/api/services/publish", json={})

    assert caught.value.status_code == status
    assert caught.value.retry_after is None
    assert "busy right now" in str(caught.value)
    assert len(recorder.requests) == 1  # the client never retries by itself: the caller's queue does


@pytest.mark.parametrize("status", [400, 404, 405, 409, 410, 422])
def test_other_4xx_are_permanent_with_the_servers_message(status: int) -> None:
    recorder = Recorder([httpx.Response(status, json={"error_msg": "service not found: s1"})])

    with pytest.raises(PermanentError) as caught:
        make_client(recorder).call("GET", "/apisix/admin/services/s1")

    assert type(caught.value) is PermanentError
    assert caught.value.status_code == status
    assert str(caught.value) == f"gw: GET /apisix/admin/services/s1 answered {status}: service not found: s1"
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(400, json={"message": "name is required"}), "name is required"),
        (httpx.Response(400, json={"error_msg": "from error_msg", "message": "from message"}), "from error_msg"),
        (httpx.Response(400, text="plain words"), "plain words"),
        (httpx.Response(400), "Bad Request"),
    ],
)
def test_the_error_text_comes_from_error_msg_message_the_body_or_the_reason(
    answer: httpx.Response, expected: str
) -> None:
    with pytest.raises(PermanentError, match=expected):
        make_client(Recorder([answer])).call("POST", "/x")


def test_a_long_error_body_is_clipped() -> None:
    with pytest.raises(PermanentError) as caught:
        make_client(Recorder([httpx.Response(400, text="x" * 10_000)])).call("POST", "/x")

    assert len(str(caught.value)) <= 400
    assert str(caught.value).endswith("...")


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_auth_errors(status: int) -> None:
    with pytest.raises(AuthError) as caught:
        make_client(Recorder([httpx.Response(status)])).call("GET", "/api/gateway_groups")

    assert caught.value.status_code == status


def test_a_redirect_is_not_followed_and_is_permanent() -> None:
    recorder = Recorder([httpx.Response(301, headers={"Location": "https://user:pw@other.test/api?k=v"})])

    with pytest.raises(PermanentError) as caught:
        make_client(recorder).call("GET", "/api/gateway_groups")

    assert len(recorder.requests) == 1
    assert "redirect to https://other.test/api" in str(caught.value)
    assert "pw" not in str(caught.value)


def test_retry_after_in_seconds_is_honoured() -> None:
    answer = httpx.Response(429, json={"error_msg": "slow down"}, headers={"Retry-After": "7"})

    with pytest.raises(RetryableError) as caught:
        make_client(Recorder([answer])).call("GET", "/x")

    assert caught.value.retry_after == 7.0


def test_retry_after_as_an_http_date_is_honoured() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    answer = httpx.Response(503, headers={"Retry-After": when})

    with pytest.raises(RetryableError) as caught:
        make_client(Recorder([answer])).call("GET", "/x")

    assert caught.value.retry_after is not None
    assert 100 <= caught.value.retry_after <= 120


def test_an_unreadable_retry_after_is_ignored() -> None:
    with pytest.raises(RetryableError) as caught:
        make_client(Recorder([httpx.Response(429, headers={"Retry-After": "soon"})])).call("GET", "/x")

    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx.ConnectError("connection refused"), "failed (ConnectError)"),
        (httpx.ConnectTimeout("connect timed out"), "timed out (ConnectTimeout)"),
        (httpx.ReadTimeout("read timed out"), "timed out (ReadTimeout)"),
        (httpx.RemoteProtocolError("server disconnected"), "failed (RemoteProtocolError)"),
        (httpx.ReadError("connection reset"), "failed (ReadError)"),
    ],
)
def test_network_errors_are_retryable_without_a_status(error: Exception, reason: str) -> None:
    with pytest.raises(RetryableError) as caught:
        make_client(Recorder([error])).call("GET", "/api/gateway_groups")

    assert str(caught.value) == f"gw: GET /api/gateway_groups {reason}"
    assert caught.value.status_code is None
    # Not chained: a traceback of the error cannot show the transport error's text.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_every_error_is_a_target_error() -> None:
    for answer in (httpx.Response(500), httpx.Response(404), httpx.Response(401), httpx.ConnectError("x")):
        with pytest.raises(TargetError):
            make_client(Recorder([answer])).call("GET", "/x")


# The 401 re-read: both branches.


def test_401_with_an_unchanged_token_is_an_auth_error_after_one_request() -> None:
    tokens = MutableTokens()
    recorder = Recorder([httpx.Response(401)])

    with pytest.raises(AuthError):
        make_client(recorder, tokens=tokens).call("GET", "/api/gateway_groups")

    assert len(recorder.requests) == 1
    assert tokens.reads == 2  # read for the call, read again after the 401


def test_401_after_a_rotation_is_retried_once_with_the_new_token() -> None:
    tokens = MutableTokens()

    def rotated_meanwhile(request: httpx.Request) -> httpx.Response:
        tokens.rotate()  # another worker rotated the token while this call was in flight
        return httpx.Response(401)

    recorder = Recorder([rotated_meanwhile, value({"ok": True})])

    result = make_client(recorder, tokens=tokens).call("POST", "/x", json={"a": 1}, idempotency_key="k-1")

    assert result.body == {"value": {"ok": True}}
    assert [r.headers["X-API-KEY"] for r in recorder.requests] == [TOKEN, NEW_TOKEN]
    # The retry is the same request: same body and the same Idempotency-Key.
    assert recorder.requests[0].content == recorder.requests[1].content
    assert [r.headers["Idempotency-Key"] for r in recorder.requests] == ["k-1", "k-1"]


def test_401_again_with_the_new_token_is_an_auth_error_without_a_third_request() -> None:
    tokens = MutableTokens()

    def rotate_then_refuse(request: httpx.Request) -> httpx.Response:
        tokens.rotate(f"secret-{tokens.version}")  # keeps changing: must still stop after one retry
        return httpx.Response(401)

    recorder = Recorder([rotate_then_refuse])

    with pytest.raises(AuthError):
        make_client(recorder, tokens=tokens).call("GET", "/x")

    assert len(recorder.requests) == 2


def test_a_new_version_with_the_same_secret_counts_as_changed() -> None:
    tokens = MutableTokens()

    def bump(request: httpx.Request) -> httpx.Response:
        tokens.version += 1
        return httpx.Response(401)

    recorder = Recorder([bump, httpx.Response(200)])
    make_client(recorder, tokens=tokens).call("GET", "/x")

    assert len(recorder.requests) == 2


def test_403_is_not_retried_even_after_a_rotation() -> None:
    tokens = MutableTokens()
    tokens.rotate()
    recorder = Recorder([httpx.Response(403, json={"error_msg": "permission denied"})])

    with pytest.raises(AuthError, match="permission denied"):
        make_client(recorder, tokens=tokens).call("GET", "/x")

    assert len(recorder.requests) == 1


def test_an_auth_error_carries_the_version_it_refused() -> None:
    tokens = MutableTokens()  # version 1
    with pytest.raises(AuthError) as caught:
        make_client(Recorder([httpx.Response(401)]), tokens=tokens).call("GET", "/x")
    assert caught.value.token_version == 1

    with pytest.raises(AuthError) as forbidden:
        make_client(Recorder([httpx.Response(403)]), tokens=tokens).call("GET", "/x")
    assert forbidden.value.token_version == 1


def test_an_auth_error_after_the_re_read_carries_the_version_sent_last_not_the_newest() -> None:
    tokens = MutableTokens()

    def rotate_then_refuse(request: httpx.Request) -> httpx.Response:
        tokens.rotate(f"secret-{tokens.version}")  # v1 is refused and replaced by v2, then v2 by v3
        return httpx.Response(401)

    with pytest.raises(AuthError) as caught:
        make_client(Recorder([rotate_then_refuse]), tokens=tokens).call("GET", "/x")

    # v2 was the last one sent and refused; v3 arrived afterwards and must not be blamed.
    assert (caught.value.token_version, tokens.version) == (2, 3)


@pytest.mark.parametrize(
    ("code", "rotated", "refused"),
    [("AuthFailure", False, 1), ("AuthFailure", True, 2), ("UnauthorizedOperation", True, 2)],
)
def test_a_coding_auth_error_carries_the_version_it_refused(code: str, rotated: bool, refused: int) -> None:
    tokens = MutableTokens()
    if rotated:
        tokens.rotate()
    envelope = httpx.Response(200, json={"Response": {"Error": {"Code": code, "Message": "no"}, "RequestId": "r"}})

    with pytest.raises(AuthError) as caught:
        make_client(Recorder([envelope]), kind="coding", tokens=tokens).call("POST", "/open-api", json={})

    assert caught.value.token_version == refused


def test_an_auth_error_without_a_version_says_none() -> None:
    assert AuthError("refused").token_version is None


# What every call sends.


def test_every_call_names_relay_and_asks_for_json() -> None:
    recorder = Recorder()
    make_client(recorder).call("GET", "/x")

    assert recorder.requests[0].headers["User-Agent"] == USER_AGENT
    assert "Relay" in USER_AGENT
    assert recorder.requests[0].headers["Accept"] == "application/json"


def test_the_idempotency_key_is_sent_only_when_the_action_has_one() -> None:
    recorder = Recorder()
    client = make_client(recorder)
    client.call("POST", "/x", json={}, idempotency_key="event-1:rule:0")
    client.call("POST", "/x", json={})

    assert recorder.requests[0].headers["Idempotency-Key"] == "event-1:rule:0"
    assert "Idempotency-Key" not in recorder.requests[1].headers


def test_params_json_and_extra_headers_are_sent() -> None:
    recorder = Recorder()
    make_client(recorder).call("PUT", "/a/b", params={"page": 2}, json={"k": "v"}, headers={"X-Trace": "t1"})

    request = recorder.requests[0]
    assert (request.method, request.url.path, request.url.params["page"]) == ("PUT", "/a/b", "2")
    assert recorder.json() == {"k": "v"}
    assert request.headers["X-Trace"] == "t1"
    assert request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("kind", ["api7", "coding", "bearer"])
def test_a_call_sends_exactly_the_request_build_request_makes(kind: str) -> None:
    recorder = Recorder()
    client = make_client(recorder, kind=kind)
    arguments: dict[str, Any] = {
        "params": {"page": 2},
        "json": {"k": "v"},
        "headers": {"X-Trace": "t1", "authorization": "Bearer rule-own"},
        "idempotency_key": "event-1:rule:0",
    }

    client.call("PATCH", "/a/b", **arguments)
    built = client.build_request("PATCH", "/a/b", Credential(SecretStr(TOKEN), 1), **arguments)

    sent = recorder.requests[0]
    assert (sent.method, sent.url, sent.content) == (built.method, built.url, built.content)
    assert sent.headers.multi_items() == built.headers.multi_items()


def test_api7_sends_the_token_in_the_x_api_key_header_by_default() -> None:
    recorder = Recorder()
    make_client(recorder, kind="api7").call("GET", "/x")

    assert recorder.requests[0].headers["X-API-KEY"] == TOKEN
    assert "Authorization" not in recorder.requests[0].headers
    assert "Cookie" not in recorder.requests[0].headers


def test_api7_with_auth_cookie_sends_the_x_api_key_cookie_and_no_header() -> None:
    recorder = Recorder()
    make_client(recorder, kind="api7", auth="cookie").call("GET", "/x")

    assert recorder.requests[0].headers["Cookie"] == f"X-API-KEY={TOKEN}"
    assert "X-API-KEY" not in recorder.requests[0].headers


def test_a_rules_own_auth_header_cannot_travel_beside_the_token() -> None:
    recorder = Recorder()
    make_client(recorder, kind="api7").call("GET", "/x", headers={"x-api-key": "from-a-template"})

    assert recorder.requests[0].headers.get_list("X-API-KEY") == [TOKEN]


def test_bearer_targets_send_an_authorization_bearer_header() -> None:
    recorder = Recorder([httpx.Response(200, json={"anything": ["goes"]})])

    result = make_client(recorder, kind="bearer").call("GET", "/v1/things")

    assert recorder.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "X-API-KEY" not in recorder.requests[0].headers
    assert result.body == {"anything": ["goes"]}  # no envelope expected of a bearer API


def test_bearer_targets_map_failures_like_the_others() -> None:
    with pytest.raises(PermanentError, match="answered 404: nope"):
        make_client(Recorder([httpx.Response(404, json={"message": "nope"})]), kind="bearer").call("GET", "/x")
    with pytest.raises(RetryableError):
        make_client(Recorder([httpx.Response(502)]), kind="bearer").call("GET", "/x")


def test_coding_basic_auth_uses_the_configured_user() -> None:
    recorder = Recorder()
    make_client(recorder, kind="coding", auth="basic", basic_user="relay-bot").call("POST", "/open-api", json={})

    scheme, _, encoded = recorder.requests[0].headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"relay-bot:{TOKEN}"


def test_coding_bearer_auth_is_the_default() -> None:
    recorder = Recorder()
    make_client(recorder, kind="coding").call("POST", "/open-api", json={})

    assert recorder.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_timeouts_are_the_targets_connect_and_read_timeouts() -> None:
    client = make_client(Recorder(), connect_timeout=1.5, read_timeout=7.0)

    assert client.timeout.connect == 1.5
    assert client.timeout.read == 7.0
    assert client.timeout.write == 7.0
    assert client.timeout.pool == 7.0


def test_timeouts_are_set_even_when_not_configured() -> None:
    timeout = make_client(Recorder()).timeout

    assert (timeout.connect, timeout.read) == (5.0, 10.0)


def test_close_closes_the_pool() -> None:
    client = make_client(Recorder())
    assert not client.closed
    client.close()
    assert client.closed


def test_the_base_url_path_is_kept() -> None:
    recorder = Recorder()
    make_client(recorder, base_url="http://admin.test/prefix/").call("GET", "/api/gateway_groups")

    assert recorder.requests[0].url.path == "/prefix/api/gateway_groups"


@pytest.fixture
def envelopes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The bodies each target kind's ``error_envelope`` was asked to parse."""
    parsed: list[Any] = []
    for target_kind in KINDS.values():
        original = target_kind.error_envelope

        def counting(body: Any, original: Any = original) -> Any:
            parsed.append(body)
            return original(body)

        monkeypatch.setattr(target_kind, "error_envelope", counting)
    return parsed


@pytest.mark.parametrize(
    ("kind", "answer"),
    [("api7", value({"id": "g1"})), ("api7", httpx.Response(404)), ("coding", coding_failure("InvalidParameter"))],
)
def test_an_answer_s_error_envelope_is_parsed_once(kind: str, answer: httpx.Response, envelopes: list[Any]) -> None:
    with contextlib.suppress(TargetError):
        make_client(Recorder([answer]), kind=kind).call("GET", "/x")

    assert len(envelopes) == 1


def test_a_refused_then_resent_call_parses_each_answer_once(envelopes: list[Any]) -> None:
    tokens = MutableTokens()

    def refused_then_rotated(_: httpx.Request) -> httpx.Response:
        tokens.rotate()
        return httpx.Response(401)

    recorder = Recorder([refused_then_rotated, value({})])
    make_client(recorder, tokens=tokens).call("GET", "/x")

    assert len(recorder.requests) == len(envelopes) == 2
