"""The expression language: typed values, helpers, strict undefined, the sandbox, compile-once caching."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tasks import templates
from tasks.templates import (
    Placeholder,
    compile_condition,
    compile_template,
    evaluate_condition,
    render_path,
    render_string,
    render_text,
    render_value,
    template_names,
    walk_strings,
)
from worker.errors import RuleError

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"


@cache
def _payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


def context(name: str, **extra: Any) -> dict[str, Any]:
    """The template context for a saved payload."""
    return {
        "payload": _payload(name),
        "headers": {"x-github-event": "release"},
        "event": {"id": "evt_1", "source": "github", "type": "release"},
        **extra,
    }


@pytest.mark.parametrize(
    ("payload", "template", "expected"),
    [
        ("github_release", "{{ payload.release.tag_name }}", "v2.4.0"),
        ("github_release", "Release {{ payload.release.tag_name }} of {{ payload.repository.full_name }}",
         "Release v2.4.0 of acme/orders-api"),
        ("github_release", "{{ payload.release.prerelease }}", False),
        ("github_release", "{{ payload.release.id }}", 158412345),
        ("github_release", "{{ payload.repository.owner }}", {"login": "acme", "id": 1234, "type": "Organization"}),
        ("github_push", "{{ payload.commits | map(attribute='id') | map('short_sha') | list }}", ["0d1a26e"]),
        ("github_push", "{{ payload.commits | map(attribute='modified') | first }}", ["cart/totals.py"]),
        ("github_push", "{{ payload.ref | ref_name }}", "main"),
        ("github_push", "{{ payload.commits | length }}", 1),
        ("gitlab_pipeline_failed", "{{ payload.builds | selectattr('status', 'equalto', 'failed') "
         "| map(attribute='name') | join(', ') }}", "unit"),
        ("gitlab_pipeline_failed", "{{ payload.object_attributes.duration // 60 }}m", "6m"),
        ("gitlab_pipeline_failed", "{{ payload.merge_request }}", None),
        ("gitlab_merge_request_merged", "{{ payload.object_attributes.merge_commit_sha | short_sha(8) }}", "5c1e0b5a"),
        ("gitlab_merge_request_merged", "{{ payload.labels | map(attribute='title') | list }}", ["backend"]),
        ("coding_push", "{{ payload.head_commit.message | trim }}", "支付回调重试 (#87)"),
        ("coding_push", "{{ payload.head_commit.timestamp | strftime('%Y-%m-%d %H:%M', tz='Asia/Shanghai') }}",
         "2024-05-14 17:46"),
        ("coding_push", "  {{ payload.repository.project_id }}  ", 310),
        ("coding_push", "plain text stays as it is", "plain text stays as it is"),
    ],
)  # fmt: skip
def test_templates_over_real_payloads(payload: str, template: str, expected: Any) -> None:
    assert render_string(template, context(payload)) == expected


def test_a_lone_expression_keeps_its_type_inside_a_json_body() -> None:
    body = {
        "services": ["{{ payload.release.tag_name }}"],
        "count": "{{ payload.release.id }}",
        "ids": "{{ [payload.release.id, payload.repository.id] }}",
        "title": "{{ payload.release.name }} ({{ payload.release.tag_name }})",
        "draft": "{{ payload.release.draft }}",
        "fixed": 3,
        "{{ payload.repository.name }}": "key templates render as text",
    }
    assert render_value(body, context("github_release")) == {
        "services": ["v2.4.0"],
        "count": 158412345,
        "ids": [158412345, 771234567],
        "title": "v2.4.0 — faster checkout (v2.4.0)",
        "draft": False,
        "fixed": 3,
        "orders-api": "key templates render as text",
    }


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ payload.release | tojson }}", '{"tag": "v1", "notes": "<b>ü</b>"}'),
        ("{{ payload.release | json }}", '{"tag": "v1", "notes": "<b>ü</b>"}'),
        ("{{ payload.release | tojson(indent=1) }}", '{\n "tag": "v1",\n "notes": "<b>ü</b>"\n}'),
        ("{{ ('{\"a\": [1, 2]}' | fromjson).a }}", [1, 2]),
        ("{{ payload.missing | default('none') }}", "none"),
        ("{{ payload.missing.deeper.still | default('chained') }}", "chained"),
        ("{{ payload.missing | default(none) }}", None),
        ("{{ payload.release.tag | default('unused') }}", "v1"),
        ("{{ payload.missing is defined }}", False),
        ("{{ payload.missing.deeper is defined }}", False),
        ("{{ payload.ref | regex_match('refs/tags/v\\\\d+') }}", True),
        ("{{ payload.ref | regex_match('tags') }}", False),
        ("{{ payload.ref | regex_match('REFS/', ignorecase=true) }}", True),
        ("{{ payload.ref is regex_search('tags/') }}", True),
        ("{{ payload.ref | regex_search('v(\\\\d+)\\\\.(\\\\d+)', 2) }}", "4"),
        ("{{ payload.ref | regex_search('v(?P<major>\\\\d+)', 'major') }}", "2"),
        ("{{ payload.ref | regex_search('nothing') }}", None),
        ("{{ payload.ref | regex_replace('^refs/tags/', '') }}", "v2.4.0"),
        ("{{ payload.ref | regex_replace('\\\\.', '-', count=1) }}", "refs/tags/v2-4.0"),
        ("{{ payload.ref | ref_name }}", "v2.4.0"),
        ("{{ payload.ref | basename }}", "v2.4.0"),
        ("{{ 'a/b/c/' | basename }}", "c"),
        ("{{ payload.sha | short_sha }}", "0d1a26e"),
        ("{{ payload.sha | short_sha(12) }}", "0d1a26e67d8f"),
    ],
)
def test_helpers(template: str, expected: Any) -> None:
    ctx = {
        "payload": {
            "release": {"tag": "v1", "notes": "<b>ü</b>"},
            "ref": "refs/tags/v2.4.0",
            "sha": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        }
    }
    assert render_string(template, ctx) == expected


@pytest.mark.parametrize(
    ("value", "arguments", "expected"),
    [
        (1715677340, "", "2024-05-14 09:02:20 UTC"),
        (1715677340.5, "'%H:%M:%S'", "09:02:20"),
        ("1715677340", "'%Y-%m-%d'", "2024-05-14"),
        (1715677340000, "'%Y-%m-%dT%H:%M:%S'", "2024-05-14T09:02:20"),  # milliseconds (CODING)
        ("2024-05-14T09:30:41Z", "'%H:%M %Z'", "09:30 UTC"),  # GitHub
        ("2024-05-14T11:02:19+02:00", "'%H:%M'", "09:02"),  # offsets are converted to UTC
        ("2024-05-14 09:47:55 UTC", "'%d/%m %H:%M'", "14/05 09:47"),  # GitLab
        ("2024-05-14 09:47:55", "'%H:%M %Z'", "09:47 UTC"),  # naive times are UTC
        ("2024-05-14T09:47:55Z", "'%Y-%m-%d %H:%M %Z', tz='Asia/Shanghai'", "2024-05-14 17:47 CST"),
    ],
)
def test_strftime_reads_unix_times_and_iso_strings(value: Any, arguments: str, expected: str) -> None:
    template = "{{ value | strftime(" + arguments + ") }}"
    assert render_string(template, {"value": value}) == expected


def test_time_helpers_compose() -> None:
    ctx = {"value": "2024-05-14T09:30:41Z"}
    assert render_string("{{ value | timestamp }}", ctx) == 1715679041
    assert render_string("{{ (value | datetime).year }}", ctx) == 2024
    assert render_string("{{ value | datetime }}", ctx) == "2024-05-14T09:30:41+00:00"
    now = render_string("{{ now() }}", {})
    assert abs(datetime.fromisoformat(now) - datetime.now(UTC)) < timedelta(seconds=5)
    assert render_string("{{ now() | strftime('%Y') }}", {}) == str(datetime.now(UTC).year)


@pytest.mark.parametrize(
    ("template", "names"),
    [
        ("{{ payload.release.tag_name }}", ["'dict object' has no attribute 'release'"]),
        ("v{{ payload.action }}-{{ payload.release.nope }}", ["has no attribute 'release'"]),
        ("{{ payload.action.nope }}", ["'str object' has no attribute 'nope'"]),
        ("{{ payload.missing.deeper }}", ["has no attribute 'missing'"]),
        ("{{ payload.commits[3].id }}", ["no element 3"]),
        ("{{ headers['x-missing'] }}", ["has no attribute 'x-missing'"]),
        ("{{ payload.missing | tojson }}", ["has no attribute 'missing'"]),
        ("{{ payload.missing | short_sha }}", ["has no attribute 'missing'"]),
        ("{{ [payload.missing] }}", ["has no attribute 'missing'"]),
        ("{{ payload.missing == 'x' }}", ["has no attribute 'missing'"]),
        ("{{ paylod.action }}", ["'paylod' is undefined"]),
    ],
)
def test_a_missing_field_is_an_error_naming_it(template: str, names: list[str]) -> None:
    ctx = {"payload": {"action": "published", "commits": []}, "headers": {}}
    with pytest.raises(RuleError) as caught:
        render_value({"x": template}, ctx)
    assert all(name in str(caught.value) for name in names)
    assert repr(template)[1:20] in str(caught.value)  # the message quotes the template


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ payload.action ", "unexpected end of template"),
        ("{{ payload.action | nosuchfilter }}", "No filter named 'nosuchfilter'"),
        ("{% if payload.action %}unclosed", "Unexpected end of template"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ payload.action + 1 }}", "TypeError"),
        ("{{ payload.action | regex_search('(') }}", "missing )"),
        ("{{ payload.action | strftime }}", "ValueError"),
        ("{{ 0 | strftime(tz='Mars/Olympus') }}", "Mars/Olympus"),
        ("{{ 'not json' | fromjson }}", "JSONDecodeError"),
    ],
)
def test_a_bad_expression_is_a_rule_error(template: str, message: str) -> None:
    with pytest.raises(RuleError, match="template") as caught:
        render_string(template, {"payload": {"action": "published"}})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ payload.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ payload.__class__.__base__.__subclasses__() }}",
        "{{ ''.__class__ | default('quietly replaced?') }}",
        "{{ '{0.__class__}'.format(payload) }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ payload.update({'action': 'deleted'}) }}",
        "{{ payload.commits.append(1) }}",
        "{% for c in payload.__class__.__mro__ %}{{ c }}{% endfor %}",
    ],
)
def test_sandbox_escapes_and_mutations_are_refused(template: str) -> None:
    payload = {"action": "published", "commits": []}
    with pytest.raises(RuleError, match=r"refused: access to attribute .* is unsafe"):
        render_string(template, {"payload": payload})
    assert payload == {"action": "published", "commits": []}


@pytest.mark.parametrize(
    ("condition", "payload", "expected"),
    [
        ("payload.action == 'published'", "github_release", True),
        ("payload.action == 'published' and payload.release.prerelease", "github_release", False),
        ("{{ payload.action == 'published' }}", "github_release", True),
        ("payload.ref | regex_match('refs/heads/(main|master)$')", "github_push", True),
        ("payload.commits | selectattr('modified') | list | length > 0", "github_push", True),
        ("payload.object_attributes.status == 'failed'", "gitlab_pipeline_failed", True),
        ("payload.object_attributes.status in ['success', 'skipped']", "gitlab_pipeline_failed", False),
        ("payload.object_attributes.action == 'merge' and payload.object_attributes.target_branch == 'main'",
         "gitlab_merge_request_merged", True),
        ("payload.ref == 'refs/heads/master' and payload.repository.name == 'payments'", "coding_push", True),
        ("payload.missing is defined", "coding_push", False),
        ("payload.missing.deeper | default(false)", "coding_push", False),
        ("headers['x-github-event'] == 'release' and event.source == 'github'", "coding_push", True),
    ],
)  # fmt: skip
def test_conditions_over_real_payloads(condition: str, payload: str, expected: bool) -> None:
    assert evaluate_condition(condition, context(payload)) is expected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("payload.release.missing == 'x'", "has no attribute 'missing'"),
        ("payload.action ==", "condition"),
        ("payload.__class__", "refused"),
    ],
)
def test_a_failing_condition_is_a_rule_error(condition: str, message: str) -> None:
    with pytest.raises(RuleError, match="condition") as caught:
        evaluate_condition(condition, context("github_release"))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ payload.x", "does not compile: unexpected end of template"),
        ("{{ payload.x | nosuch }}", "does not compile: No filter named 'nosuch'"),
        ("{% for x in y %}", "does not compile"),
        ("text {{ }} more", "does not compile"),
    ],
)
def test_compile_template_reports_what_does_not_compile(source: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        compile_template(source)


@pytest.mark.parametrize("source", ["payload.x ==", "payload.x | nosuch", "payload.(x)", "{{ payload.x =="])
def test_compile_condition_reports_what_does_not_parse(source: str) -> None:
    with pytest.raises(RuleError, match="does not parse"):
        compile_condition(source)


@pytest.mark.parametrize("source", ["plain", "{{ payload.x }}", "a {{ b }} c", "{% if x %}y{% endif %}", "{# c #}"])
def test_valid_templates_compile(source: str) -> None:
    compile_template(source)


def test_templates_and_expressions_compile_once() -> None:
    templates._template.cache_clear()
    templates._expression.cache_clear()
    ctx = context("github_release")
    for _ in range(3):
        render_string("tag {{ payload.release.tag_name }}", ctx)
        render_string("{{ payload.release.tag_name }}", ctx)
        evaluate_condition("payload.action == 'published'", ctx)
    assert templates._template.cache_info().misses == 1
    assert templates._template.cache_info().hits == 2
    assert templates._expression.cache_info().misses == 2
    assert templates._expression.cache_info().hits == 4


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("/apisix/admin/services/{{ payload.name }}", "/apisix/admin/services/checkout"),
        ("/apisix/admin/services/{{ payload.evil }}", "/apisix/admin/services/..%2F..%2Fapi%2Fsettings%2Ftokens"),
        ("/api/{{ payload.dots }}/x", "/api/%2E%2E/x"),
        ("/api/{{ payload.query }}", "/api/a%3Fb%3D1%23c"),
        ("/api/{{ payload.space }}", "/api/a%20b"),
        ("/api/fixed", "/api/fixed"),
    ],
)
def test_values_in_a_path_are_one_segment_each(template: str, expected: str) -> None:
    ctx = {
        "payload": {
            "name": "checkout",
            "evil": "../../api/settings/tokens",
            "dots": "..",
            "query": "a?b=1#c",
            "space": "a b",
        }
    }
    assert render_path(template, ctx) == expected


def test_render_text_always_gives_text_and_fields_win_over_dict_methods() -> None:
    ctx = {"payload": {"n": 3, "items": [1, 2]}}
    assert render_text("{{ payload.n }}", ctx) == "3"
    assert render_text("{{ payload.items }}", ctx) == "[1, 2]"


def test_placeholders_stand_for_values_known_only_at_run_time() -> None:
    ctx = {"saved": {"svc": Placeholder("saved.svc")}}
    assert str(render_string("{{ saved.svc.value.id }}", ctx)) == "<saved.svc.value.id>"
    assert render_text("/services/{{ saved.svc['value'].id }}", ctx) == "/services/<saved.svc['value'].id>"
    assert render_string("{{ saved.svc.list | tojson }}", ctx) == '"<saved.svc.list>"'
    assert render_text("{{ saved.svc.path }}", ctx) == "<saved.svc.path>"


def test_walk_strings_and_template_names() -> None:
    value = {"a": ["x", {"b": "{{ payload.y }}"}], "{{ event.id }}": 1}
    assert list(walk_strings(value, "json")) == [
        ("json.a[0]", "x"),
        ("json.a[1].b", "{{ payload.y }}"),
        ("json.{{ event.id }} (key)", "{{ event.id }}"),
    ]
    assert template_names("{{ paylod.x }} {{ now() }} {% for c in payload.commits %}{{ c }}{% endfor %}") == {
        "paylod",
        "payload",
    }
    assert template_names("payload.x and saved.y", condition=True) == {"payload", "saved"}
