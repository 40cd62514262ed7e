"""CODING's open API over httpx.MockTransport: the Action body, errors under HTTP 200 and their mapping."""

from __future__ import annotations

import httpx
import pytest

from tests.worker.targets.helpers import (
    NEW_TOKEN,
    TOKEN,
    MutableTokens,
    Recorder,
    coding_answer,
    coding_failure,
    make_client,
)
from worker.errors import AuthError, PermanentError, RetryableError
from worker.targets import CodingClient, CodingError, coding_action
from worker.targets.coding import coding_error

USER = {"Id": 7, "Name": "relay-bot", "GlobalKey": "relay-bot"}


def test_an_action_is_posted_to_open_api_with_the_action_in_the_body() -> None:
    recorder = Recorder([coding_answer({"User": USER})])
    client = make_client(recorder, kind="coding")

    response = coding_action(client, "DescribeCodingCurrentUser", ProjectName="demo", idempotency_key="k")

    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("POST", "/open-api")
    assert "Action" not in request.url.params
    assert recorder.json() == {"Action": "DescribeCodingCurrentUser", "ProjectName": "demo"}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Idempotency-Key"] == "k"
    assert response == {"User": USER, "RequestId": "req-1"}


def test_coding_client_action_and_current_user() -> None:
    recorder = Recorder([coding_answer({"User": USER})])
    coding = CodingClient(make_client(recorder, kind="coding"))

    assert coding.current_user() == USER
    assert coding.action("DescribeCodingCurrentUser")["User"] == USER
    assert repr(coding) == "<CodingClient <TargetClient gw coding http://admin.test>>"


def test_an_error_under_http_200_is_raised_with_its_code() -> None:
    recorder = Recorder([coding_failure("InvalidParameter", "ProjectName is invalid")])

    with pytest.raises(PermanentError) as caught:
        coding_action(make_client(recorder, kind="coding"), "DescribeProject", ProjectName="x y")

    assert type(caught.value) is PermanentError
    assert caught.value.code == "InvalidParameter"
    assert caught.value.status_code == 200
    assert str(caught.value) == "gw: POST /open-api failed with InvalidParameter: ProjectName is invalid"


def test_rule_actions_on_a_coding_target_see_the_error_too() -> None:
    recorder = Recorder([coding_failure("ResourceNotFound", "no such project")])

    with pytest.raises(PermanentError, match="ResourceNotFound"):
        make_client(recorder, kind="coding").call("POST", "/open-api", json={"Action": "DescribeProject"})


def test_an_error_envelope_is_not_special_for_other_kinds() -> None:
    recorder = Recorder([coding_failure("InternalError")])

    assert make_client(recorder, kind="bearer").call("POST", "/x").status_code == 200


@pytest.mark.parametrize("code", ["InternalError", "ServiceUnavailable", "RequestLimitExceeded.IPLimitExceeded"])
def test_transient_codes_are_retryable(code: str) -> None:
    answer = httpx.Response(
        200,
        json={"Response": {"Error": {"Code": code, "Message": "later"}, "RequestId": "r"}},
        headers={"Retry-After": "3"},
    )
    with pytest.raises(RetryableError) as caught:
        coding_action(make_client(Recorder([answer]), kind="coding"), "DescribeProjects")

    assert caught.value.code == code
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("code", ["UnauthorizedOperation", "UnauthorizedOperation.ProjectAccess"])
def test_permission_codes_are_auth_errors_without_a_token_re_read(code: str) -> None:
    tokens = MutableTokens()
    tokens.rotate()
    recorder = Recorder([coding_failure(code, "no permission")])

    with pytest.raises(AuthError) as caught:
        coding_action(make_client(recorder, kind="coding", tokens=tokens), "DescribeProjects")

    assert caught.value.code == code
    assert len(recorder.requests) == 1


def test_auth_failure_with_an_unchanged_token_is_an_auth_error() -> None:
    recorder = Recorder([coding_failure("AuthFailure", "invalid token")])

    with pytest.raises(AuthError, match="AuthFailure: invalid token") as caught:
        coding_action(make_client(recorder, kind="coding"), "DescribeCodingCurrentUser")

    assert caught.value.code == "AuthFailure"
    assert len(recorder.requests) == 1


def test_auth_failure_after_a_rotation_is_retried_once_with_the_new_token() -> None:
    tokens = MutableTokens()

    def rotated_meanwhile(request: httpx.Request) -> httpx.Response:
        tokens.rotate()
        return coding_failure("AuthFailure.TokenFailure", "token expired")

    recorder = Recorder([rotated_meanwhile, coding_answer({"User": USER})])

    response = coding_action(make_client(recorder, kind="coding", tokens=tokens), "DescribeCodingCurrentUser")

    assert response["User"] == USER
    assert [r.headers["Authorization"] for r in recorder.requests] == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]


def test_an_http_401_from_coding_is_an_auth_error() -> None:
    with pytest.raises(AuthError):
        coding_action(make_client(Recorder([httpx.Response(401)]), kind="coding"), "DescribeCodingCurrentUser")


def test_a_5xx_wins_over_a_permanent_looking_code() -> None:
    recorder = Recorder([coding_failure("InvalidParameter", "odd", status=502)])

    with pytest.raises(RetryableError) as caught:
        coding_action(make_client(recorder, kind="coding"), "X")

    assert caught.value.status_code == 502
    assert caught.value.code == "InvalidParameter"


def test_a_4xx_with_an_envelope_uses_the_code() -> None:
    recorder = Recorder([coding_failure("MissingParameter", "Action is missing", status=400)])

    with pytest.raises(PermanentError) as caught:
        coding_action(make_client(recorder, kind="coding"), "X")

    assert (caught.value.status_code, caught.value.code) == (400, "MissingParameter")


def test_an_answer_without_a_response_object_is_permanent() -> None:
    recorder = Recorder([httpx.Response(200, json={"ok": True})])

    with pytest.raises(PermanentError, match="without a Response"):
        coding_action(make_client(recorder, kind="coding"), "X")


def test_a_null_error_is_not_an_error() -> None:
    recorder = Recorder([httpx.Response(200, json={"Response": {"Error": None, "Data": 1, "RequestId": "r"}})])

    assert coding_action(make_client(recorder, kind="coding"), "X") == {"Data": 1, "RequestId": "r"}


def test_an_action_name_is_required() -> None:
    with pytest.raises(ValueError, match="action"):
        coding_action(make_client(Recorder(), kind="coding"), "")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"Response": {"Error": {"Code": "X", "Message": "m"}}}, CodingError("X", "m")),
        ({"Response": {"Error": {}}}, CodingError("UnknownError", "no message")),
        ({"Response": {"Error": None}}, None),
        ({"Response": {"User": {}}}, None),
        ({"Response": "text"}, None),
        ({"error_msg": "x"}, None),
        (None, None),
        ([1], None),
    ],
)
def test_coding_error_reads_the_envelope(body: object, expected: CodingError | None) -> None:
    assert coding_error(body) == expected
