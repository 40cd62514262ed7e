"""Api7Client and Api7Tokens over httpx.MockTransport: paths, bodies, envelopes and typed results."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.worker.targets.api7_client import Api7Client
from tests.worker.targets.helpers import TOKEN, Recorder, listing, make_client, value
from worker.errors import AuthError, PermanentError
from worker.targets import Api7Tokens, ApiToken

NEW_SECRET = "a7ee-freshly-minted-secret-000111"
TOKEN_VALUE = {
    "id": "tok1",
    "name": "relay-prod",
    "created_at": 1_700_000_000,
    "updated_at": 1_700_000_100,
    "expires_at": 1_800_000_000,
    "user_id": "u1",
    "user_name": "relay-bot",
    "last_used_at": 1_700_000_200,
}


def api7(recorder: Recorder, **config: Any) -> Api7Client:
    return Api7Client(make_client(recorder, kind="api7", **config), page_size=2)


# Token endpoints.


def test_create_posts_name_and_expiry_and_returns_the_secret_once() -> None:
    recorder = Recorder([value({**TOKEN_VALUE, "token": NEW_SECRET})])

    token = api7(recorder).tokens.create("relay-prod", 1_800_000_000)

    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/settings/tokens")
    assert recorder.json() == {"name": "relay-prod", "expires_at": 1_800_000_000}
    assert token == ApiToken(
        id="tok1",
        name="relay-prod",
        expires_at=1_800_000_000,
        created_at=1_700_000_000,
        updated_at=1_700_000_100,
        last_used_at=1_700_000_200,
        user_id="u1",
        user_name="relay-bot",
        token=SecretStr(NEW_SECRET),
    )
    assert token.token is not None
    assert token.token.get_secret_value() == NEW_SECRET
    assert NEW_SECRET not in repr(token)


def test_create_accepts_a_datetime_expiry_as_unix_seconds() -> None:
    recorder = Recorder([value({**TOKEN_VALUE, "token": NEW_SECRET})])

    api7(recorder).tokens.create("n", datetime(2030, 1, 1, tzinfo=UTC))

    assert recorder.json()["expires_at"] == 1_893_456_000


def test_create_with_expiry_zero_never_expires() -> None:
    recorder = Recorder([value({**TOKEN_VALUE, "expires_at": 0, "token": NEW_SECRET})])

    token = api7(recorder).tokens.create("n", 0)

    assert recorder.json()["expires_at"] == 0
    assert token.never_expires
    assert token.expires is None


def test_an_answer_without_the_secret_is_an_error_for_create_and_regenerate() -> None:
    tokens = api7(Recorder([value(TOKEN_VALUE)])).tokens

    with pytest.raises(PermanentError, match="create token tok1 answered no secret"):
        tokens.create("n", 0)
    with pytest.raises(PermanentError, match="regenerate token tok1 answered no secret"):
        tokens.regenerate("tok1", 0)


def test_list_walks_the_pages_and_returns_tokens_without_secrets() -> None:
    items = [{**TOKEN_VALUE, "id": f"tok{i}", "name": f"t{i}"} for i in range(3)]
    recorder = Recorder([listing(items[:2], total=3), listing(items[2:], total=3)])

    tokens = list(api7(recorder).tokens.list(search="t", order_by="expires_at", direction="asc"))

    assert [t.id for t in tokens] == ["tok0", "tok1", "tok2"]
    assert all(t.token is None for t in tokens)
    params = [dict(r.url.params) for r in recorder.requests]
    assert params == [
        {"search": "t", "order_by": "expires_at", "direction": "asc", "page": "1", "page_size": "2"},
        {"search": "t", "order_by": "expires_at", "direction": "asc", "page": "2", "page_size": "2"},
    ]
    assert all(r.url.path == "/api/settings/tokens" for r in recorder.requests)


def test_find_matches_the_whole_name_not_the_search_substring() -> None:
    items = [{**TOKEN_VALUE, "id": "a", "name": "relay-prod-old"}, {**TOKEN_VALUE, "id": "b", "name": "relay-prod"}]
    tokens = api7(Recorder([listing(items)])).tokens

    found = tokens.find("relay-prod")

    assert found is not None
    assert found.id == "b"
    assert api7(Recorder([listing(items)])).tokens.find("other") is None


def test_name_exists_reads_check_name() -> None:
    recorder = Recorder([value({"exist": True})])

    assert api7(recorder).tokens.name_exists("relay-prod") is True
    assert recorder.requests[0].url.path == "/api/settings/tokens/check_name"
    assert recorder.requests[0].url.params["name"] == "relay-prod"


def test_get_reads_one_token() -> None:
    recorder = Recorder([value(TOKEN_VALUE)])

    token = api7(recorder).tokens.get("tok1")

    assert (recorder.requests[0].method, recorder.requests[0].url.path) == ("GET", "/api/settings/tokens/tok1")
    assert token.id == "tok1"
    assert token.expires == datetime.fromtimestamp(1_800_000_000, UTC)


def test_a_secret_in_a_get_answer_stays_masked() -> None:
    token = api7(Recorder([value({**TOKEN_VALUE, "token": NEW_SECRET})])).tokens.get("tok1")

    assert NEW_SECRET not in repr(token)


def test_update_renames() -> None:
    recorder = Recorder([value({**TOKEN_VALUE, "name": "renamed"})])

    token = api7(recorder).tokens.update("tok1", "renamed", idempotency_key="k")

    assert (recorder.requests[0].method, recorder.requests[0].url.path) == ("PUT", "/api/settings/tokens/tok1")
    assert recorder.json() == {"name": "renamed"}
    assert recorder.requests[0].headers["Idempotency-Key"] == "k"
    assert token.name == "renamed"


@pytest.mark.parametrize(
    ("answer", "deleted_id"), [(value(TOKEN_VALUE), "tok1"), (httpx.Response(200), None), (httpx.Response(204), None)]
)
def test_delete_returns_the_deleted_token_when_answered(answer: httpx.Response, deleted_id: str | None) -> None:
    recorder = Recorder([answer])

    deleted = api7(recorder).tokens.delete("tok1")

    assert (recorder.requests[0].method, recorder.requests[0].url.path) == ("DELETE", "/api/settings/tokens/tok1")
    assert (deleted.id if deleted else None) == deleted_id


def test_regenerate_puts_the_expiry_and_returns_the_new_secret() -> None:
    recorder = Recorder([value({**TOKEN_VALUE, "expires_at": 1_900_000_000, "token": NEW_SECRET})])

    token = api7(recorder).tokens.regenerate("tok1", 1_900_000_000)

    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("PUT", "/api/settings/tokens/tok1/regenerate")
    assert recorder.json() == {"expires_at": 1_900_000_000}
    assert request.headers["X-API-KEY"] == TOKEN
    assert token.token == SecretStr(NEW_SECRET)
    assert token.expires_at == 1_900_000_000


def test_regenerate_is_sent_once_even_when_it_fails() -> None:
    recorder = Recorder([httpx.Response(502)])

    with pytest.raises(Exception, match="answered 502"):
        api7(recorder).tokens.regenerate("tok1", 0)

    assert len(recorder.requests) == 1


def test_a_404_on_a_token_is_permanent_with_the_message() -> None:
    recorder = Recorder([httpx.Response(404, json={"error_msg": "token not found: nope"})])

    with pytest.raises(PermanentError, match="token not found: nope"):
        api7(recorder).tokens.get("nope")


def test_a_refused_token_is_an_auth_error() -> None:
    with pytest.raises(AuthError):
        api7(Recorder([httpx.Response(401)])).tokens.get("tok1")


@pytest.mark.parametrize(
    ("configured", "explicit", "path"),
    [
        (None, None, "/api/settings/tokens"),
        ("/api/tokens", None, "/api/tokens"),
        ("/api/tokens/", None, "/api/tokens"),
        ("api/tokens", None, "/api/tokens"),
        (None, "/custom/tokens", "/custom/tokens"),
    ],
)
def test_the_token_path_prefix_is_configurable(configured: str | None, explicit: str | None, path: str) -> None:
    recorder = Recorder([value(TOKEN_VALUE)])
    config: dict[str, Any] = {"token_path_prefix": configured} if configured else {}
    tokens = Api7Tokens(make_client(recorder, **config), prefix=explicit)

    tokens.get("tok1")

    assert recorder.requests[0].url.path == f"{path}/tok1"


def test_the_cookie_mode_reaches_the_token_endpoints() -> None:
    recorder = Recorder([value(TOKEN_VALUE)])

    api7(recorder, auth="cookie").tokens.get("tok1")

    assert recorder.requests[0].headers["Cookie"] == f"X-API-KEY={TOKEN}"


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda t: t.create("", 0), "token name"),
        (lambda t: t.create("x" * 41, 0), "token name"),
        (lambda t: t.create("n", -1), "expires_at"),
        (lambda t: t.create("n", True), "expires_at"),
        (lambda t: t.get("../x"), "token_id"),
        (lambda t: t.regenerate("a/b", 0), "token_id"),
        (lambda t: t.update("ok", ""), "token name"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(call: Callable[[Api7Tokens], object], problem: str) -> None:
    recorder = Recorder()
    tokens = api7(recorder).tokens

    with pytest.raises(ValueError, match=problem):
        call(tokens)
    assert recorder.requests == []


@pytest.mark.parametrize("bad", [{"name": "x"}, {"id": "x", "expires_at": "soon"}, {"id": 3, "expires_at": 0}])
def test_a_malformed_token_is_a_permanent_error(bad: dict[str, object]) -> None:
    with pytest.raises(PermanentError, match="a token without"):
        api7(Recorder([value(bad)])).tokens.get("x")


# Gateway groups, services, publish.


def test_gateway_groups_are_listed_across_pages() -> None:
    groups = [{"id": f"g{i}"} for i in range(3)]
    recorder = Recorder([listing(groups[:2], total=3), listing(groups[2:], total=3)])

    assert list(api7(recorder).gateway_groups(search="prod")) == groups
    assert [r.url.path for r in recorder.requests] == ["/api/gateway_groups"] * 2
    assert recorder.requests[0].url.params["search"] == "prod"


def test_one_gateway_group_is_unwrapped() -> None:
    recorder = Recorder([value({"id": "default", "name": "default"})])

    assert api7(recorder).gateway_group("default") == {"id": "default", "name": "default"}
    assert recorder.requests[0].url.path == "/api/gateway_groups/default"


def test_published_services_of_a_group() -> None:
    recorder = Recorder([listing([{"id": "s1"}])])

    assert list(api7(recorder).published_services("default")) == [{"id": "s1"}]
    assert recorder.requests[0].url.path == "/api/gateway_groups/default/services"


def test_services_can_be_filtered_by_gateway_group() -> None:
    recorder = Recorder([listing([{"id": "s1"}])])

    assert list(api7(recorder).services(gateway_group_id="default")) == [{"id": "s1"}]
    assert recorder.requests[0].url.path == "/apisix/admin/services"
    assert recorder.requests[0].url.params["gateway_group_id"] == "default"


def test_one_service_is_unwrapped_even_with_a_key() -> None:
    recorder = Recorder([httpx.Response(200, json={"value": {"id": "s1"}, "key": "/apisix/services/s1"})])

    assert api7(recorder).service("s1") == {"id": "s1"}
    assert recorder.requests[0].url.path == "/apisix/admin/services/s1"


def test_create_service_posts_the_config() -> None:
    recorder = Recorder([value({"id": "s9", "name": "orders"})])

    created = api7(recorder).create_service({"name": "orders", "upstream": {}}, idempotency_key="k")

    assert created["id"] == "s9"
    assert (recorder.requests[0].method, recorder.requests[0].url.path) == ("POST", "/apisix/admin/services")
    assert recorder.json() == {"name": "orders", "upstream": {}}


def test_publish_sends_the_group_and_the_service_versions() -> None:
    recorder = Recorder([value({"gateway_group_id": "default", "services": []})])
    item = {"service_id": "s1", "version": "v1.2.3", "upstream": {"nodes": []}}

    answer = api7(recorder).publish("default", [item], create_new_version=True, idempotency_key="e:r:0")

    assert answer == {"gateway_group_id": "default", "services": []}
    assert recorder.requests[0].url.path == "/api/services/publish"
    assert recorder.json() == {"gateway_group_id": "default", "services": [item], "create_new_version": True}
    assert recorder.requests[0].headers["Idempotency-Key"] == "e:r:0"


def test_publish_needs_a_service_and_a_valid_group() -> None:
    client = api7(Recorder())
    with pytest.raises(ValueError, match="at least one"):
        client.publish("default", [])
    with pytest.raises(ValueError, match="gateway_group_id"):
        client.publish("../x", [{"service_id": "s1"}])


def test_an_unexpected_answer_shape_is_permanent() -> None:
    with pytest.raises(PermanentError, match="expected a"):
        api7(Recorder([httpx.Response(200, json=[1, 2])])).gateway_group("default")


def test_reprs_name_the_target_and_nothing_secret() -> None:
    client = api7(Recorder())

    assert repr(client) == "<Api7Client <TargetClient gw api7 http://admin.test>>"
    assert repr(client.tokens) == "<Api7Tokens <TargetClient gw api7 http://admin.test> /api/settings/tokens>"
