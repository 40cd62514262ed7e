"""The call action (tasks/actions/call.py): rendering a request, the scopes it requires, refusing what is unsafe."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis
from cryptography.fernet import Fernet

from tasks import pipeline
from tasks.actions.call import CallRequest, check_scopes, render_call
from tests.tasks.support import (
    CONTEXT,
    load_payload,
    make_runtime,
    settings_with,
    store_event,
)
from worker.config import CallAction
from worker.errors import PermanentError, RuleError
from worker.runtime import Runtime
from worker.store.events import EventStatus
from worker.tokens import scopes
from worker.tokens.keys import parse_keys
from worker.tokens.store import TokenStore


def _runtime(client: redis.Redis, rules: list[dict[str, Any]], seen: list[httpx.Request]) -> Runtime:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Response": {"RequestId": "r-1"}})

    return make_runtime(client, settings_with(rules), handler)


def test_an_unknown_grant_never_blocks(fake_redis: redis.Redis) -> None:
    runtime = _runtime(fake_redis, [], [])
    assert scopes.granted_scopes(runtime.tokens, "coding") is None
    check_scopes(runtime, CallAction.model_validate({"call": "coding", "path": "/x", "requires": ["a:b:rw"]}))


def test_a_known_lack_of_scope_fails_at_once_naming_it(fake_redis: redis.Redis, grants: dict[str, set[str]]) -> None:
    seen: list[httpx.Request] = []
    call = {"call": "coding", "path": "/open-api", "requires": ["project:depot:ro", "project:ci:rw"],
            "json": {"Action": "TriggerCodingCIBuild"}}  # fmt: skip
    runtime = _runtime(fake_redis, [{"name": "build", "on": {"source": "coding"}, "do": [call]}], seen)
    grants["coding"] = {"project:depot:rw", "project:ci:ro"}
    event_id = store_event(runtime, "coding", "push", load_payload("coding_push"))

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED
    assert seen == []
    error = runtime.events.get(event_id).error or ""
    assert "rule 'build' action 0" in error
    assert "does not grant the required scope(s) project:ci:rw" in error
    assert "project:depot:ro" not in error

    grants["coding"] = {"project:ci:ro"}
    with pytest.raises(PermanentError, match=r"token 'coding' does not grant .* project:depot:ro, project:ci:rw"):
        check_scopes(runtime, CallAction.model_validate(call))


def test_granted_scopes_let_the_call_through(fake_redis: redis.Redis, grants: dict[str, set[str]]) -> None:
    seen: list[httpx.Request] = []
    rule = {"name": "build", "do": [{"call": "coding", "path": "/open-api", "requires": ["project:ci:ro"]}]}
    runtime = _runtime(fake_redis, [rule], seen)
    grants["coding"] = {"project:ci:rw"}

    assert pipeline.process(runtime, store_event(runtime, "coding", "push", {})).status == EventStatus.DONE
    assert len(seen) == 1


def test_render_call_renders_every_part() -> None:
    action = CallAction.model_validate(
        {
            "call": "gw",
            "method": "PATCH",
            "path": "/apisix/admin/services/{{ payload.project.name }}?dry-run=all",
            "query": {"page": "{{ payload.object_attributes.iid }}"},
            "headers": {"X-Merge-Request": "{{ payload.object_attributes.iid }}"},
            "json": {"labels": {"mr": "mr-{{ payload.object_attributes.iid }}"}},
        }
    )
    assert render_call(action, CONTEXT) == CallRequest(
        target="gw",
        method="PATCH",
        path="/apisix/admin/services/checkout",
        query={"dry-run": "all", "page": 42},
        headers={"X-Merge-Request": "42"},
        body={"labels": {"mr": "mr-42"}},
    )


def test_a_header_value_with_a_line_break_is_refused() -> None:
    action = CallAction.model_validate({"call": "gw", "path": "/x", "headers": {"X-Title": "{{ payload.t }}"}})
    with pytest.raises(RuleError, match="'X-Title': the rendered value holds a line break"):
        render_call(action, {"payload": {"t": "a\r\nX-Injected: 1"}})


@pytest.mark.parametrize("value", ["café", "a\x00b", "\ud800", "tab\x7f"])
def test_a_header_value_no_http_header_can_carry_is_a_rule_error(value: str) -> None:
    action = CallAction.model_validate({"call": "gw", "path": "/x", "headers": {"X-Title": "{{ payload.t }}"}})
    with pytest.raises(RuleError, match="'X-Title': the rendered value holds characters an HTTP header cannot carry"):
        render_call(action, {"payload": {"t": value}})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "a path segment rendered empty"),
        (None, "a path segment rendered null"),
        (["a", "b"], "a path segment must be one value, not a list"),
        ({"a": 1}, "a path segment must be one value, not a dict"),
    ],
)
def test_a_path_segment_that_would_retarget_the_call_is_a_rule_error(value: object, reason: str) -> None:
    action = CallAction.model_validate(
        {"call": "gw", "method": "DELETE", "path": "/apisix/admin/services/{{ payload.id }}"}
    )
    with pytest.raises(RuleError, match=f"template '/apisix/admin/services/{{{{ payload.id }}}}': .*{reason}"):
        render_call(action, {"payload": {"id": value}})


def test_granted_scopes_come_from_the_token_store(fake_redis: redis.Redis) -> None:
    settings = settings_with([])
    store = TokenStore(fake_redis, parse_keys(Fernet.generate_key().decode(), origin="RELAY_TOKEN_KEY"))
    name = settings.token_names["coding"]
    store.add(name, "coding", "coding-token-secret", scopes=["project:ci:rw"])
    runtime = Runtime(settings, fake_redis, store)

    assert scopes.granted_scopes(runtime.tokens, name) == {"project:ci:rw"}
    with pytest.raises(PermanentError, match="project:depot:ro"):
        check_scopes(
            runtime, CallAction.model_validate({"call": "coding", "path": "/x", "requires": ["project:depot:ro"]})
        )
