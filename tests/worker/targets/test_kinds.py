"""The target kinds table: auth headers, envelopes, classification and refusal per kind, through the client."""

from __future__ import annotations

import base64
from typing import Any, get_args

import httpx
import pytest
from pydantic import SecretStr

from tests.worker.targets.helpers import TOKEN, Recorder, coding_failure, make_client
from worker.config import TARGET_AUTH, TargetConfig, TargetKindName
from worker.errors import AuthError, PermanentError, RetryableError, TargetError
from worker.targets.kinds import KINDS, Api7Kind, BearerKind, CodingKind, GiteaKind, GitHubKind, GitLabKind, TargetKind
from worker.targets.tokens import Credential

BASIC = base64.b64encode(f"bot:{TOKEN}".encode()).decode()


def config(kind: str, **extra: Any) -> TargetConfig:
    return TargetConfig.model_validate({"kind": kind, "base_url": "http://admin.test", **extra})


def test_the_table_has_one_object_per_configurable_kind() -> None:
    assert {name: type(kind) for name, kind in KINDS.items()} == {
        "api7": Api7Kind,
        "coding": CodingKind,
        "bearer": BearerKind,
        "gitlab": GitLabKind,
        "github": GitHubKind,
        "gitea": GiteaKind,
    }


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("api7", {}, {"X-API-KEY": TOKEN}),
        ("api7", {"auth": "header"}, {"X-API-KEY": TOKEN}),
        ("api7", {"auth": "cookie"}, {"Cookie": f"X-API-KEY={TOKEN}"}),
        ("coding", {}, {"Authorization": f"Bearer {TOKEN}"}),
        ("coding", {"auth": "basic", "basic_user": "bot"}, {"Authorization": f"Basic {BASIC}"}),
        ("bearer", {}, {"Authorization": f"Bearer {TOKEN}"}),
        ("gitlab", {}, {"PRIVATE-TOKEN": TOKEN}),
        ("gitlab", {"auth": "bearer"}, {"Authorization": f"Bearer {TOKEN}"}),
        ("github", {}, {"Authorization": f"Bearer {TOKEN}"}),
        ("gitea", {}, {"Authorization": f"Bearer {TOKEN}"}),
    ],
)
def test_auth_headers_per_kind_and_mode(kind: str, extra: dict[str, Any], expected: dict[str, str]) -> None:
    target = config(kind, **extra)
    assert KINDS[kind].auth_headers(target, Credential(SecretStr(TOKEN), 1)) == expected
    assert target.auth_mode in TARGET_AUTH[kind].modes


def test_every_configurable_kind_has_its_auth_facts_and_a_class() -> None:
    assert set(get_args(TargetKindName)) == set(TARGET_AUTH) == set(KINDS)


@pytest.mark.parametrize(
    ("kind", "rotates"),
    [("api7", True), ("gitlab", True), ("coding", False), ("bearer", False), ("github", False), ("gitea", False)],
)
def test_only_api7_and_gitlab_can_rotate(kind: str, rotates: bool) -> None:
    assert TARGET_AUTH[kind].can_rotate is rotates
    # What the configuration says a kind can do, its class does: a rotating kind has its own rotate.
    assert (type(KINDS[kind]).rotate is not TargetKind.rotate) is rotates


ENVELOPE = {"Response": {"Error": {"Code": "AuthFailure.TokenFailure", "Message": "bad"}}}


@pytest.mark.parametrize(
    ("kind", "expected"), [("coding", ("AuthFailure.TokenFailure", "bad")), ("api7", None), ("bearer", None)]
)
def test_only_coding_reads_an_error_envelope(kind: str, expected: tuple[str, str] | None) -> None:
    assert KINDS[kind].error_envelope(ENVELOPE) == expected
    assert KINDS[kind].error_envelope({"value": {}}) is None


@pytest.mark.parametrize(
    ("code", "error", "refused"),
    [
        ("AuthFailure", AuthError, True),
        ("AuthFailure.TokenFailure", AuthError, True),
        ("UnauthorizedOperation.NoPermission", AuthError, False),
        ("InternalError", RetryableError, None),
        ("ServiceUnavailable", RetryableError, None),
        ("RequestLimitExceeded", RetryableError, None),
        ("InvalidParameter", PermanentError, None),
        ("AuthFailureish", PermanentError, None),
    ],
)
def test_coding_envelope_under_http_200(code: str, error: type[TargetError], refused: bool | None) -> None:
    client = make_client(Recorder([coding_failure(code)]), kind="coding")
    with pytest.raises(TargetError) as caught:
        client.call("POST", "/open-api", json={"Action": "X"})
    assert type(caught.value) is error
    assert caught.value.code == code
    if refused is not None:
        assert isinstance(caught.value, AuthError)
        assert caught.value.refused is refused


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    ("status", "error", "refused", "maybe_applied"),
    [
        (401, AuthError, True, None),
        (403, AuthError, False, None),
        (429, RetryableError, None, False),
        (500, RetryableError, None, False),
        (503, RetryableError, None, False),
        (504, RetryableError, None, True),
        (302, PermanentError, None, None),
        (404, PermanentError, None, None),
    ],
)
def test_statuses_classify_the_same_for_every_kind(
    kind: str, status: int, error: type[TargetError], refused: bool | None, maybe_applied: bool | None
) -> None:
    client = make_client(Recorder([httpx.Response(status, json={})]), kind=kind)
    with pytest.raises(TargetError) as caught:
        client.call("GET", "/x")
    assert type(caught.value) is error
    assert caught.value.status_code == status
    if refused is not None:
        assert isinstance(caught.value, AuthError)
        assert caught.value.refused is refused
    if maybe_applied is not None:
        assert isinstance(caught.value, RetryableError)
        assert caught.value.maybe_applied is maybe_applied


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_200_without_an_envelope_succeeds(kind: str) -> None:
    assert make_client(Recorder([httpx.Response(200, json={"ok": 1})]), kind=kind).call("GET", "/x").body == {"ok": 1}


@pytest.mark.parametrize(
    ("exc", "maybe_applied"),
    [
        (httpx.ReadTimeout("t"), True),
        (httpx.WriteTimeout("t"), True),
        (httpx.RemoteProtocolError("t"), True),
        (httpx.ReadError("t"), True),
        (httpx.WriteError("t"), True),
        (httpx.ConnectError("t"), False),
        (httpx.ConnectTimeout("t"), False),
        (httpx.PoolTimeout("t"), False),
    ],
)
def test_a_transport_error_says_whether_the_request_may_have_arrived(exc: Exception, maybe_applied: bool) -> None:
    recorder = Recorder([exc])
    with pytest.raises(RetryableError) as caught:
        make_client(recorder).call("POST", "/x", json={})
    assert caught.value.status_code is None
    assert caught.value.maybe_applied is maybe_applied
    assert type(exc).__name__ in str(caught.value)
