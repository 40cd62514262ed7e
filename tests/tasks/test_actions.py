"""Actions as a whole (tasks/actions/__init__.py): planning, save_as, at-most-once effect, outcomes, the dry run.

Each runner has its own tests in tests/tasks/actions/."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import redis
from click.testing import CliRunner

from tasks import pipeline
from tasks.actions import RUNNERS, plan_rule
from tasks.actions.call import CallRequest
from tasks.actions.notify import Notification
from tasks.templates import Placeholder
from tests.tasks.support import (
    CONTEXT,
    FEISHU_URL,
    PAYLOADS,
    TOKEN,
    Scripted,
    config_with,
    load_payload,
    make_runtime,
    settings_with,
    store_event,
)
from worker.cli import main
from worker.config import ACTION_KINDS, Rule, Settings
from worker.store.events import EventStatus


def test_plan_rule_renders_without_sending_and_stands_in_for_saved_responses() -> None:
    rule = Rule.model_validate(
        {
            "name": "r",
            "do": [
                {"call": "gw", "method": "POST", "path": "/apisix/admin/services", "json": {"name": "x"},
                 "save_as": "svc"},
                {"call": "gw", "method": "PATCH", "path": "/apisix/admin/services/{{ saved.svc.value.id }}"},
                {"notify": "ops", "text": "created {{ saved.svc.value.id }} for {{ payload.project.name }}"},
                {"notify": "ops", "text": "{{ payload.nope }}"},
                {"notify": "ops", "text": "never rendered"},
            ],
        }
    )  # fmt: skip
    context = dict(CONTEXT)
    planned = plan_rule(rule, context)
    assert [(step.index, step.request) for step in planned[:3]] == [
        (0, CallRequest("gw", "POST", "/apisix/admin/services", {}, {}, {"name": "x"})),
        (1, CallRequest("gw", "PATCH", "/apisix/admin/services/%3Csaved.svc.value.id%3E", {}, {}, None)),
        (2, Notification("ops", "created <saved.svc.value.id> for checkout")),
    ]
    assert planned[3].request is None
    assert "has no attribute 'nope'" in (planned[3].error or "")
    assert len(planned) == 4  # a real run stops at the failing action too
    assert isinstance(context["saved"]["svc"], Placeholder)


def test_save_as_feeds_later_actions_of_the_same_rule(fake_redis: redis.Redis) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/apisix/admin/services":
            return httpx.Response(201, json={"key": "/services/svc-9", "value": {"id": "svc-9", "name": "checkout"}})
        return httpx.Response(200, json={"code": 0} if request.url.host == "open.feishu.cn" else {"value": {}})

    rules: list[dict[str, Any]] = [
        {"name": "create", "on": {"source": "gitlab"},
         "do": [{"call": "gw", "path": "/apisix/admin/services", "json": {"name": "{{ payload.project.name }}"},
                 "save_as": "svc"},
                {"call": "gw", "method": "PATCH", "path": "/apisix/admin/services/{{ saved.svc.value.id }}",
                 "json": {"labels": {"created": "{{ saved.svc.value.name }}"}}},
                {"notify": "ops", "text": "service {{ saved.svc.value.id }} created"}]},
        {"name": "other-rule", "on": {"source": "gitlab"},
         "do": [{"notify": "ops", "text": "{{ saved | default('nothing saved here') }}"}]},
    ]  # fmt: skip
    runtime = make_runtime(fake_redis, settings_with(rules), handler)
    event_id = store_event(runtime, "gitlab", "Merge Request Hook", load_payload("gitlab_merge_request_merged"))

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert [r.url.path for r in seen[:2]] == ["/apisix/admin/services", "/apisix/admin/services/svc-9"]
    assert json.loads(seen[1].content) == {"labels": {"created": "checkout"}}
    assert json.loads(seen[2].content)["content"]["text"] == "service svc-9 created"
    assert json.loads(seen[3].content)["content"]["text"] == "nothing saved here"  # saved is per rule
    assert [(a.kind, a.status_code) for a in runtime.events.get(event_id).actions] == [
        ("call", 201), ("call", 200), ("notify", 200), ("notify", 200),
    ]  # fmt: skip


TWO_STEPS = [
    {"name": "ship", "on": {"source": "github", "event": "release"},
     "do": [{"call": "gw", "path": "/api/services/publish",
             "json": {"gateway_group_id": "default", "services": [{"service_id": "orders-api",
                                                                   "version": "{{ payload.release.tag_name }}"}]}},
            {"notify": "ops", "text": "published {{ payload.release.tag_name }}"}]},
]  # fmt: skip


def test_first_action_done_second_fails_rerun_runs_only_the_second(fake_redis: redis.Redis) -> None:
    script = Scripted({"code": 11232, "msg": "frequency limited"})
    runtime = make_runtime(fake_redis, settings_with(TWO_STEPS), script)
    event_id = store_event(runtime, "github", "release", load_payload("github_release"))

    assert pipeline.process(runtime, event_id).status == EventStatus.RETRYING
    assert script.hosts() == ["gw.test", "open.feishu.cn"]
    record = runtime.events.get(event_id)
    assert [(a.index, a.ok) for a in record.actions] == [(0, True), (1, False)]
    assert "code 11232: frequency limited" in (record.error or "")

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert script.hosts() == ["gw.test", "open.feishu.cn", "open.feishu.cn"]
    keys = [request.headers["Idempotency-Key"] for request in script.seen]
    assert keys == [f"{event_id}:ship:0", f"{event_id}:ship:1", f"{event_id}:ship:1"]
    assert script.seen[0].headers["X-API-KEY"] == TOKEN
    assert [(a.index, a.ok, a.attempts) for a in runtime.events.get(event_id).actions] == [(0, True, 1), (1, True, 2)]


def test_a_redelivery_after_a_crash_skips_actions_already_done(fake_redis: redis.Redis) -> None:
    script = Scripted()
    runtime = make_runtime(fake_redis, settings_with(TWO_STEPS), script)
    event_id = store_event(runtime, "github", "release", load_payload("github_release"))
    assert pipeline.process(runtime, event_id).status == EventStatus.DONE

    # As if the worker died after the first action: its result is recorded, the event still says running.
    record = runtime.events.get(event_id)
    record.status = EventStatus.RUNNING
    record.actions = record.actions[:1]
    runtime.events.save(record)

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert script.hosts() == ["gw.test", "open.feishu.cn", "open.feishu.cn"]


def test_an_action_that_fails_for_good_fails_the_event_with_the_rule_action_and_answer(
    fake_redis: redis.Redis,
) -> None:
    script = Scripted({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
    runtime = make_runtime(fake_redis, settings_with(TWO_STEPS), script)
    event_id = store_event(runtime, "github", "release", load_payload("github_release"))

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED
    record = runtime.events.get(event_id)
    assert record.error is not None
    assert record.error.startswith("rule 'ship' action 1: channel 'ops' (feishu) refused the message: code 19021")
    assert "sign match fail" in record.error
    assert FEISHU_URL.rsplit("/", 1)[1] not in record.error
    failed = record.actions[-1]
    assert (failed.rule, failed.index, failed.target, failed.ok) == ("ship", 1, "ops", False)
    assert [r.id for r in runtime.events.dead_letters()] == [event_id]

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED  # a redelivery changes nothing
    assert script.hosts() == ["gw.test", "open.feishu.cn"]


def test_the_dry_run_shows_exactly_what_a_real_run_sends(
    fake_redis: redis.Redis, write_config: Callable[[dict[str, Any]], Settings]
) -> None:
    rules = [
        {"name": "label", "on": {"source": "gitlab", "event": "Merge Request Hook"},
         "do": [{"call": "gw", "method": "PATCH", "path": "/apisix/admin/services/{{ payload.project.name }}",
                 "query": {"dry-run": "all"}, "headers": {"X-Relay-Rule": "label"},
                 "json": {"labels": {"mr": "mr-{{ payload.object_attributes.iid }}"}}},
                {"notify": "ops", "text": "{{ payload.object_attributes.title }} merged"}]},
    ]  # fmt: skip
    settings = write_config(config_with(rules))
    payload_file = PAYLOADS / "gitlab_merge_request_merged.json"
    result = CliRunner().invoke(
        main, ["rules", "test", "--source", "gitlab", "--event", "Merge Request Hook",
               "--payload", str(payload_file), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)["matched"][0]["actions"]

    script = Scripted()
    runtime = make_runtime(fake_redis, settings, script)
    event_id = store_event(runtime, "gitlab", "Merge Request Hook", load_payload("gitlab_merge_request_merged"))
    assert pipeline.process(runtime, event_id).status == EventStatus.DONE

    call, note = script.seen
    assert (call.method, str(call.url)) == (planned[0]["method"], planned[0]["url"])
    assert json.loads(call.content) == planned[0]["json"]
    shown = {name: value.replace("evt_dry_run", event_id) for name, value in planned[0]["headers"].items()}
    sent = {name: call.headers[name] for name in shown}
    assert sent == {**shown, "X-API-KEY": TOKEN}
    assert shown["X-API-KEY"] == "***"
    assert json.loads(note.content) == planned[1]["body"]


def test_every_action_kind_has_one_runner() -> None:
    assert set(RUNNERS) == set(ACTION_KINDS)
    for kind, runner in RUNNERS.items():
        assert runner.kind == kind == ACTION_KINDS[kind].kind
