"""Rules: which ones an event triggers (over real payload shapes), why others do not, and the rule checker."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis

from tasks import pipeline
from tasks.rules import check_rules, event_context, explain, matching_rules
from tests.tasks.support import load_payload, make_runtime, record_for, settings_with, store_event
from worker.config import Rule
from worker.errors import RuleError
from worker.store.events import EventStatus


def rules_from(*specs: dict[str, Any]) -> list[Rule]:
    return [Rule.model_validate(spec) for spec in specs]


NOTE = [{"notify": "ops", "text": "x"}]
RULES = rules_from(
    {"name": "release-published", "on": {"source": "github", "event": "release"},
     "if": "payload.action == 'published'", "do": NOTE},
    {"name": "release-deleted", "on": {"source": "github", "event": "release"},
     "if": "payload.action == 'deleted'", "do": NOTE},
    {"name": "any-github", "on": {"source": "github", "event": "*"}, "do": NOTE},
    {"name": "gitlab-ci-or-mr", "on": {"source": "gitlab", "event": ["Pipeline Hook", "Merge Request Hook"]},
     "do": NOTE},
    {"name": "failed-pipeline", "on": {"source": "gitlab", "event": "Pipeline Hook"},
     "if": "payload.object_attributes.status == 'failed'", "do": NOTE},
    {"name": "merged-to-main", "on": {"source": "gitlab", "event": "Merge Request Hook"},
     "if": "payload.object_attributes.action == 'merge' and payload.object_attributes.target_branch == 'main'",
     "do": NOTE},
    {"name": "pushes", "on": {"source": ["github", "coding"], "event": "push"}, "do": NOTE},
    {"name": "default-branch-push", "on": {"event": "push"},
     "if": "payload.ref | ref_name == payload.repository.default_branch", "do": NOTE},
    {"name": "coding-master", "on": {"source": "coding", "event": "push"},
     "if": "payload.ref == 'refs/heads/master'", "do": NOTE},
    {"name": "everything", "do": NOTE},
)  # fmt: skip


@pytest.mark.parametrize(
    ("source", "event_type", "payload", "expected"),
    [
        ("github", "release", "github_release", ["release-published", "any-github", "everything"]),
        ("github", "push", "github_push", ["any-github", "pushes", "default-branch-push", "everything"]),
        ("gitlab", "Pipeline Hook", "gitlab_pipeline_failed", ["gitlab-ci-or-mr", "failed-pipeline", "everything"]),
        ("gitlab", "Merge Request Hook", "gitlab_merge_request_merged",
         ["gitlab-ci-or-mr", "merged-to-main", "everything"]),
        ("coding", "push", "coding_push", ["pushes", "default-branch-push", "coding-master", "everything"]),
        ("gitlab", "Push Hook", "github_push", ["everything"]),
        ("gitea", "release", "github_release", ["everything"]),
    ],
)  # fmt: skip
def test_matching_over_real_payloads(source: str, event_type: str, payload: str, expected: list[str]) -> None:
    record = record_for(source, event_type, load_payload(payload))
    assert [rule.name for rule in matching_rules(RULES, record)] == expected


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"action": "created"}, ["any-github", "everything"]),
        ({"action": "deleted"}, ["release-deleted", "any-github", "everything"]),
    ],
)
def test_a_condition_decides_between_rules_on_the_same_event(change: dict[str, Any], expected: list[str]) -> None:
    record = record_for("github", "release", {**load_payload("github_release"), **change})
    assert [rule.name for rule in matching_rules(RULES, record)] == expected


def test_a_condition_that_fails_names_its_rule() -> None:
    rules = rules_from({"name": "needs-release", "if": "payload.release.tag_name == 'v1'", "do": NOTE})
    with pytest.raises(RuleError, match=r"rule 'needs-release' if: condition .* has no attribute 'release'"):
        matching_rules(rules, record_for("github", "push", load_payload("github_push")))


def test_a_condition_is_only_evaluated_when_on_matches() -> None:
    rules = rules_from({"name": "r", "on": {"source": "gitlab"}, "if": "payload.missing.field", "do": NOTE})
    assert matching_rules(rules, record_for("github", "push", {})) == []


def test_explain_gives_a_reason_for_every_rule() -> None:
    rules = rules_from(
        {"name": "wrong-event", "on": {"source": "github", "event": ["push", "create"]}, "do": NOTE},
        {"name": "false-if", "on": {"event": "release"}, "if": "payload.action == 'deleted'", "do": NOTE},
        {"name": "broken-if", "if": "payload.nope.x == 1", "do": NOTE},
        {"name": "matches", "on": {"source": "github"}, "do": NOTE},
    )
    verdicts = explain(rules, record_for("github", "release", load_payload("github_release")))
    assert [(v.rule.name, v.matched, v.reason) for v in verdicts] == [
        ("wrong-event", False, "on (source=github, event=push,create) does not match"),
        ("false-if", False, "if is false: payload.action == 'deleted'"),
        ("broken-if", False, "if failed"),
        ("matches", True, None),
    ]
    assert "has no attribute 'nope'" in (verdicts[2].error or "")


def test_event_context_exposes_payload_headers_and_event() -> None:
    record = record_for("github", "release", {"a": 1}, headers={"x-github-event": "release"})
    assert event_context(record) == {
        "payload": {"a": 1},
        "headers": {"x-github-event": "release"},
        "event": {"id": "evt_test", "source": "github", "type": "release", "delivery_id": "d-1",
                  "received_at": 1715677340.0},
    }  # fmt: skip


def test_every_matching_rule_runs(fake_redis: redis.Redis) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 0, "msg": "success"} if "feishu" in str(request.url) else {})

    settings = settings_with(
        [
            {"name": "label", "on": {"source": "gitlab", "event": "Pipeline Hook"},
             "do": [{"call": "gw", "method": "PATCH", "path": "/apisix/admin/services/{{ payload.project.name }}",
                     "json": {"labels": {"ci": "{{ payload.object_attributes.status }}"}}}]},
            {"name": "tell-ops", "on": {"source": "gitlab", "event": "Pipeline Hook"},
             "if": "payload.object_attributes.status == 'failed'",
             "do": [{"notify": "ops", "text": "{{ payload.project.path_with_namespace }} failed"}]},
            {"name": "not-this-one", "on": {"source": "github"}, "do": [{"notify": "ops", "text": "no"}]},
        ]
    )  # fmt: skip
    runtime = make_runtime(fake_redis, settings, handler)
    event_id = store_event(runtime, "gitlab", "Pipeline Hook", load_payload("gitlab_pipeline_failed"))

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE

    assert [(r.method, r.url.host, r.url.path) for r in seen] == [
        ("PATCH", "gw.test", "/apisix/admin/services/checkout"),
        ("POST", "open.feishu.cn", "/open-apis/bot/v2/hook/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"),
    ]
    assert json.loads(seen[0].content) == {"labels": {"ci": "failed"}}
    assert json.loads(seen[1].content) == {"msg_type": "text", "content": {"text": "shop/checkout failed"}}
    record = runtime.events.get(event_id)
    assert [(a.rule, a.kind, a.target, a.ok) for a in record.actions] == [
        ("label", "call", "gw", True),
        ("tell-ops", "notify", "ops", True),
    ]


def test_a_broken_condition_fails_the_event_naming_the_rule(fake_redis: redis.Redis) -> None:
    settings = settings_with([{"name": "broken", "if": "payload.release.tag_name", "do": NOTE}])
    runtime = make_runtime(fake_redis, settings, lambda r: pytest.fail("nothing should be sent"))
    event_id = store_event(runtime, "github", "push", load_payload("github_push"))

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED
    assert "rule 'broken' if:" in (runtime.events.get(event_id).error or "")


TARGETS, CHANNELS, SOURCES = {"gw", "coding"}, {"ops"}, {"github", "gitlab"}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"name": "r", "do": [{"call": "nope", "path": "/x"}]}, "rule 'r' do[0].call: unknown target 'nope'"),
        ({"name": "r", "do": [{"notify": "nope", "text": "x"}]}, "rule 'r' do[0].notify: unknown channel 'nope'"),
        ({"name": "r", "on": {"source": ["github", "gitea"]}, "do": NOTE},
         "rule 'r' on.source: unknown source 'gitea'"),
        ({"name": "r", "if": "payload.action ==", "do": NOTE},
         "rule 'r' if: condition 'payload.action ==' does not parse: unexpected 'end of template'"),
        ({"name": "r", "if": "paylod.action == 'x'", "do": NOTE},
         "rule 'r' if: unknown name 'paylod' (a template can read event, headers, payload, saved)"),
        ({"name": "r", "do": [{"call": "gw", "path": "/x/{{ payload.id"}]},
         "rule 'r' do[0].path: template '/x/{{ payload.id' does not compile"),
        ({"name": "r", "do": [{"call": "gw", "path": "/x", "query": {"q": "{{ payload.q | nosuch }}"}}]},
         "rule 'r' do[0].query.q: template '{{ payload.q | nosuch }}' does not compile: No filter named 'nosuch'"),
        ({"name": "r", "do": [{"call": "gw", "path": "/x", "headers": {"X-Tag": "{% if %}"}}]},
         "rule 'r' do[0].headers.X-Tag: template '{% if %}' does not compile"),
        ({"name": "r", "do": [{"call": "gw", "path": "/x", "json": {"s": [{"v": "{{ playload.v }}"}]}}]},
         "rule 'r' do[0].json.s[0].v: unknown name 'playload'"),
        ({"name": "r", "do": [{"call": "gw", "path": "/x", "json": {"{{ x": 1}}]},
         "rule 'r' do[0].json.{{ x (key): template '{{ x' does not compile"),
        ({"name": "r", "do": [NOTE[0], {"notify": "ops", "text": "{{ payload.a }"}]},
         "rule 'r' do[1].text: template '{{ payload.a }' does not compile"),
        ({"name": "r", "do": [{"call": "coding", "path": "/open-api", "requires": ["project depot"]}]},
         "rule 'r' do[0].requires: scope 'project depot' is not of the form resource:scope:ro|rw"),
    ],
)  # fmt: skip
def test_check_rules_names_the_rule_and_the_field(spec: dict[str, Any], problem: str) -> None:
    problems = check_rules(rules_from(spec), targets=TARGETS, channels=CHANNELS, sources=SOURCES)
    assert problem in problems[0]
    assert len(problems) == 1


def test_check_rules_lists_every_problem_and_duplicate_names() -> None:
    rules = rules_from(
        {"name": "dup", "do": NOTE},
        {"name": "dup", "if": "payload.(", "do": [{"call": "nope", "path": "/{{ x"}, {"notify": "ops", "text": "{{"}]},
    )
    problems = check_rules(rules, targets=TARGETS, channels=CHANNELS, sources=SOURCES)
    assert problems[0] == "rule 'dup': the name is used by 2 rules (results and Idempotency-Keys are keyed by it)"
    assert [p.split(":")[0] for p in problems[1:]] == [
        "rule 'dup' if",
        "rule 'dup' do[0].call",
        "rule 'dup' do[0].path",
        "rule 'dup' do[1].text",
    ]


def test_valid_rules_have_no_problems() -> None:
    assert check_rules(RULES, targets=TARGETS, channels=CHANNELS, sources={"github", "gitlab", "coding"}) == []
    # Without configured sources (a worker-only configuration), source names are not checked.
    assert check_rules(RULES, targets=TARGETS, channels=CHANNELS) == []
