"""``relay rules check`` and ``relay rules test``: every problem listed, exact dry-run requests, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from tests.support import ROOT
from worker.cli import main

PAYLOADS = ROOT / "tests" / "payloads"
EXAMPLE = ROOT / "relay.example.yaml"
ENVIRONMENT = {
    "GITHUB_WEBHOOK_SECRET": "gh-webhook-secret-4711",
    "GITLAB_WEBHOOK_TOKEN": "gl-webhook-token-4711",
    "CODING_WEBHOOK_SECRET": "coding-webhook-secret-4711",
    "API7_PROD_TOKEN": "a7ee-prod-token-0123456789abcdef",
    "CODING_TOKEN": "coding-bot-token-0123456789abcdef",
    "FEISHU_OPS_WEBHOOK": "https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "FEISHU_OPS_SECRET": "feishu-signing-secret-4711",
    "WECOM_RELEASES_WEBHOOK": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa",
    "DINGTALK_BUILDS_WEBHOOK": "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef0123456789abcdef",
    "DINGTALK_BUILDS_SECRET": "SEC0123456789abcdef0123456789",
}


@pytest.fixture(autouse=True)
def nothing_is_sent_and_no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule commands must work with no Redis and must never send a request."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the rules commands must not send or connect")

    monkeypatch.setattr(httpx.Client, "send", refuse)
    monkeypatch.setattr("worker.store.connection.connect", refuse)
    monkeypatch.setenv("RELAY_REDIS_URL", "redis://unreachable.invalid:1/0")


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's example configuration, with its environment variables set."""
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RELAY_CONFIG", str(EXAMPLE))
    return EXAMPLE


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write a configuration (a dict or YAML text) and point RELAY_CONFIG at it."""

    def write(data: dict[str, Any] | str) -> Path:
        path = tmp_path / "relay.yaml"
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        monkeypatch.setenv("RELAY_CONFIG", str(path))
        return path

    return write


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["rules", *args])


def dry_run(source: str, event: str, payload: str, *extra: str) -> Result:
    return run("test", "--source", source, "--event", event, "--payload", str(PAYLOADS / f"{payload}.json"), *extra)


def test_the_example_configuration_checks_clean(example: Path) -> None:
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: 4 rule(s), 6 action(s) in {example}\n"


BASE: dict[str, Any] = {
    "sources": {"github": {"kind": "github", "secret": "s3cret-github-0123"}},
    "targets": {"gw": {"kind": "api7", "base_url": "http://gw.test", "token_secret": "gw-token-secret-0001"}},
    "channels": {"ops": {"kind": "slack", "url": "https://hooks.slack.com/services/T1/B1/XXXXXXXXXXXXXXXX"}},
}


def test_check_lists_every_problem_one_per_line(config: Any) -> None:
    config(
        {
            **BASE,
            "sources": {"github": {"kind": "github"}},  # no secret
            "rules": [
                {"name": "calls-nowhere", "do": [{"call": "nope", "path": "/x"}]},
                {"name": "bad-template", "do": [{"call": "gw", "path": "/x", "json": {"a": ["{{ payload.x "]}}]},
                {"name": "bad-condition", "if": "payload.x ==", "do": [{"notify": "ops", "text": "t"}]},
                {"name": "typo", "on": {"source": "githbu"}, "do": [{"notify": "opz", "text": "{{ paylaod.x }}"}]},
                {"name": "no-kind", "do": [{"text": "hello"}]},
                {"name": "half-call", "do": [{"call": "gw"}]},
                {"do": [{"notify": "ops", "text": "t"}]},
                {"name": "typo", "do": [{"notify": "ops", "text": "t", "extra": 1}]},
            ],
        }
    )

    result = run("check")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "sources.github: kind 'github' needs a 'secret'",
        "rule 'no-kind' do[0]: an action needs one of 'call' (a target), 'notify' (a channel) or 'sync' (a target)",
        "rule 'half-call' do[0].path: Field required",
        "rules[6] name: Field required",
        "rule 'typo' do[0].extra: Extra inputs are not permitted",
        "rule 'calls-nowhere' do[0].call: unknown target 'nope'",
        "rule 'bad-template' do[0].json.a[0]: template '{{ payload.x ' does not compile: "
        "unexpected end of template, expected 'end of print statement'.",
        "rule 'bad-condition' if: condition 'payload.x ==' does not parse: unexpected 'end of template'",
        "rule 'typo' on.source: unknown source 'githbu'",
        "rule 'typo' do[0].notify: unknown channel 'opz'",
        "rule 'typo' do[0].text: unknown name 'paylaod' (a template can read event, headers, payload, saved)",
    ]
    assert "11 problem(s)" in result.stderr


def test_check_lists_every_unset_variable_and_still_checks_the_rules(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("UNSET_SOURCE_SECRET", "UNSET_CHANNEL_URL"):
        monkeypatch.setenv(name, "")  # recorded, so the stand-in the check sets is undone after the test
        monkeypatch.delenv(name)
    path = config(
        "sources: {github: {kind: github, secret: ${UNSET_SOURCE_SECRET}}}\n"
        "channels: {ops: {kind: slack, url: ${UNSET_CHANNEL_URL}}}\n"
        "rules: [{name: r, do: [{notify: ops, text: '{{ paylaod.x }}'}]}]\n"
    )

    result = run("check")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}: sources.github.secret: environment variable UNSET_SOURCE_SECRET is not set",
        f"{path}: channels.ops.url: environment variable UNSET_CHANNEL_URL is not set",
        "rule 'r' do[0].text: unknown name 'paylaod' (a template can read event, headers, payload, saved)",
    ]


def test_check_json(config: Any) -> None:
    config({**BASE, "rules": [{"name": "r", "if": "payload.(", "do": [{"notify": "ops", "text": "t"}]}]})
    result = run("check", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["rules"] == 1
    assert report["problems"][0].startswith("rule 'r' if: condition 'payload.(' does not parse")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("targets: {gw: {kind: api7, base_url: 'http://gw.test', token_secret: '${MISSING_TOKEN}'}}\n",
         "targets.gw.token_secret: environment variable MISSING_TOKEN is not set"),
        ("rules: [ {name: x\n", "not valid YAML"),
        ("rules: {name: x}\n", "rules: must be a list of rules"),
    ],
)  # fmt: skip
def test_check_reports_a_file_that_cannot_be_read(config: Any, text: str, problem: str) -> None:
    config(text)
    result = run("check")
    assert result.exit_code == 1
    assert problem in result.stdout


def test_check_finds_a_channel_url_that_cannot_work_without_printing_it(config: Any) -> None:
    config({**BASE, "channels": {"ops": {"kind": "wecom", "url": "qyapi.weixin.qq.com/send?key=secret-key-4711"}}})
    result = run("check")
    assert result.exit_code == 1
    assert result.stdout == "channels.ops.url: the url is not an absolute http(s) URL\n"
    assert "secret-key-4711" not in result.output


def test_check_never_prints_a_secret(config: Any) -> None:
    config({**BASE, "channels": {"ops": {"kind": "slack", "url": "not-a-url-but-secret-value", "timeout": -1}}})
    result = run("check")
    assert result.exit_code == 1
    assert "channels.ops.timeout: Input should be greater than 0" in result.stdout
    assert "not-a-url-but-secret-value" not in result.output


@pytest.mark.parametrize(
    ("source", "event", "payload", "expected"),
    [
        ("github", "release", "github_release",
         {"publish-on-release": [("call", "prod", "POST https://api7.example.com:7443/api/services/publish"),
                                 ("notify", "releases", "POST https://qyapi.weixin.qq.com/***")]}),
        ("gitlab", "Pipeline Hook", "gitlab_pipeline_failed",
         {"notify-failed-pipeline": [("notify", "ops", "POST https://open.feishu.cn/***")]}),
        ("gitlab", "Merge Request Hook", "gitlab_merge_request_merged",
         {"label-service-on-merge": [("call", "prod",
                                      "PATCH https://api7.example.com:7443/apisix/admin/services/checkout")]}),
        ("coding", "push", "coding_push",
         {"coding-build-on-push": [("call", "coding", "POST https://e.coding.net/open-api"),
                                   ("notify", "builds", "POST https://oapi.dingtalk.com/***")]}),
        ("github", "push", "github_push", {}),
    ],
)  # fmt: skip
def test_the_example_rules_on_saved_payloads(
    example: Path, source: str, event: str, payload: str, expected: dict[str, list[tuple[str, str, str]]]
) -> None:
    result = dry_run(source, event, payload, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    seen = {
        rule["rule"]: [
            (a["kind"], a.get("target") or a.get("channel"), f"{a.get('method', 'POST')} {a['url']}")
            for a in rule["actions"]
        ]
        for rule in report["matched"]
    }
    assert seen == expected
    for value in ENVIRONMENT.values():
        assert value not in result.output


def test_json_report_of_a_release(example: Path) -> None:
    report = json.loads(dry_run("github", "release", "github_release", "--json").stdout)

    call, notify = report["matched"][0]["actions"]
    assert report["matched"][0]["rule"] == "publish-on-release"
    assert call == {
        "kind": "call",
        "target": "prod",
        "index": 0,
        "method": "POST",
        "path": "/api/services/publish",
        "url": "https://api7.example.com:7443/api/services/publish",
        "query": {},
        "headers": {
            "User-Agent": call["headers"]["User-Agent"],
            "Accept": "application/json",
            "X-API-KEY": "***",
            "Idempotency-Key": "evt_dry_run:publish-on-release:0",
            "Content-Type": "application/json",
        },
        "json": {
            "gateway_group_id": "default",
            "create_new_version": True,
            "services": [
                {
                    "service_id": "orders-api",
                    "version": "v2.4.0",
                    "name": "orders-api",
                    "labels": {"release": "v2.4.0", "published_by": "mona"},
                    "upstream": {
                        "scheme": "http",
                        "type": "roundrobin",
                        "nodes": [{"host": "orders-api.prod.svc", "port": 8080, "weight": 100}],
                    },
                }
            ],
        },
    }
    assert notify == {
        "kind": "notify",
        "channel": "releases",
        "index": 1,
        "channel_kind": "wecom",
        "url": "https://qyapi.weixin.qq.com/***",
        "signed": False,
        "text": "orders-api v2.4.0 is published on the prod gateway (by mona): "
        "https://github.com/acme/orders-api/releases/tag/v2.4.0",
        "body": {
            "msgtype": "text",
            "text": {
                "content": "orders-api v2.4.0 is published on the prod gateway (by mona): "
                "https://github.com/acme/orders-api/releases/tag/v2.4.0"
            },
        },
    }
    assert [(r["rule"], r["reason"]) for r in report["not_matched"]] == [
        ("notify-failed-pipeline", "on (source=gitlab, event=Pipeline Hook) does not match"),
        ("label-service-on-merge", "on (source=gitlab, event=Merge Request Hook) does not match"),
        ("coding-build-on-push", "on (source=coding, event=push) does not match"),
    ]


def test_human_report_shows_the_exact_requests(example: Path) -> None:
    result = dry_run("coding", "push", "coding_push")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "event: source=coding type=push (dry run: nothing is sent)" in out
    assert "matched: coding-build-on-push" in out
    assert "  [0] call coding: POST https://e.coding.net/open-api" in out
    assert "      Authorization: Bearer ***" in out
    assert "      Idempotency-Key: evt_dry_run:coding-build-on-push:0" in out
    assert '"Revision": "e5b2f4ba3b1d7e0bd3b40e8b2e0c0d1a3f9c6e71"' in out
    assert '"Value": "master"' in out
    assert "  [1] notify builds (dingtalk, signed): POST https://oapi.dingtalk.com/***" in out
    # The saved response is only known when the rule really runs.
    assert "CODING request <saved.build.Response.RequestId>" in out
    assert "not matched: publish-on-release: on (source=github, event=release) does not match" in out
    assert out.rstrip().endswith("1 rule(s) matched")


def test_required_scopes_are_shown(example: Path) -> None:
    report = json.loads(dry_run("coding", "push", "coding_push", "--json").stdout)
    call = report["matched"][0]["actions"][0]
    assert call["requires"] == ["project:ci:rw"]
    assert call["headers"]["Authorization"] == "Bearer ***"


def test_a_channel_url_that_cannot_work_stops_the_dry_run(config: Any) -> None:
    config({**BASE, "channels": {"ops": {"kind": "slack", "url": "hooks.slack.com/services/secret-4711"}},
            "rules": [{"name": "r", "do": [{"notify": "ops", "text": "t"}]}]})  # fmt: skip
    result = dry_run("github", "push", "github_push")
    assert result.exit_code == 1
    assert result.output == "relay: channel 'ops': the url is not an absolute http(s) URL\n"


def test_feishu_signature_is_masked_in_the_dry_run(example: Path) -> None:
    report = json.loads(dry_run("gitlab", "Pipeline Hook", "gitlab_pipeline_failed", "--json").stdout)
    body = report["matched"][0]["actions"][0]["body"]
    assert body["sign"] == "***"
    assert body["content"]["text"].splitlines() == [
        "Pipeline #31 failed: shop/checkout on main",
        "Commit bcbb5ec by Jane Doe: test: cover the empty cart",
        "Failed jobs: unit",
        "Finished 2024-05-14 17:47 (Beijing time)",
        "https://gitlab.example.com/shop/checkout/-/pipelines/31",
    ]


def test_no_matching_rule_says_the_event_would_be_skipped(example: Path) -> None:
    result = dry_run("github", "push", "github_push")
    assert result.exit_code == 0
    assert result.stdout.rstrip().endswith("no rule matched: the event would be skipped")


def test_headers_are_available_to_rules_in_lower_case(config: Any) -> None:
    rule = {
        "name": "by-header",
        "if": "headers['x-github-event'] == 'release'",
        "do": [{"notify": "ops", "text": "delivery {{ headers['x-github-delivery'] }}"}],
    }
    config({**BASE, "rules": [rule]})
    headers = str(PAYLOADS / "github_release.headers.json")

    result = dry_run("github", "release", "github_release", "--headers", headers, "--json")

    assert result.exit_code == 0, result.output
    action = json.loads(result.stdout)["matched"][0]["actions"][0]
    assert action["body"] == {"text": "delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    assert dry_run("github", "release", "github_release", "--json").exit_code == 1  # no headers: the if fails


def test_a_rule_that_cannot_render_is_shown_and_fails_the_command(config: Any) -> None:
    config({**BASE, "rules": [{"name": "broken", "do": [
        {"call": "gw", "path": "/x", "headers": {"Authorization": "Bearer gw-token-secret-0001"}},
        {"notify": "ops", "text": "{{ payload.release.nope }}"},
        {"notify": "ops", "text": "not reached"},
    ]}]})  # fmt: skip

    result = dry_run("github", "release", "github_release")

    assert result.exit_code == 1
    assert "  [1] notify ops: error: template '{{ payload.release.nope }}': " in result.stdout
    assert "has no attribute 'nope'" in result.stdout
    assert "not reached" not in result.stdout
    assert "      Authorization: ***" in result.stdout
    assert "gw-token-secret-0001" not in result.output


def _planned_call(config: Any, target: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The one call a dry run plans for a rule calling ``target`` with ``headers``."""
    action: dict[str, Any] = {"call": "t", "method": "POST", "path": "/x", "json": {"n": 1}}
    if headers:
        action["headers"] = headers
    config({**BASE, "targets": {"t": target}, "rules": [{"name": "r", "do": [action]}]})
    result = dry_run("github", "push", "github_push", "--json")
    assert result.exit_code == 0, result.output
    call: dict[str, Any] = json.loads(result.stdout)["matched"][0]["actions"][0]
    return call


def test_a_rules_own_headers_are_shown_as_the_client_merges_them(config: Any) -> None:
    target = {"kind": "api7", "base_url": "http://gw.test", "token_secret": "gw-token-secret-0001"}
    call = _planned_call(
        config, target, {"x-api-key": "rule-own-key-4711", "user-agent": "rule-agent/1", "X-Trace": "t1"}
    )

    names = [name.lower() for name in call["headers"]]
    assert sorted(names) == sorted(set(names)), "a header shown twice is never sent twice"
    shown = {name.lower(): value for name, value in call["headers"].items()}
    # The client's token replaces the rule's; the rule's User-Agent replaces the client's default, as httpx sends.
    assert (shown["x-api-key"], shown["user-agent"], shown["x-trace"]) == ("***", "rule-agent/1", "t1")
    assert set(shown) == {"x-api-key", "user-agent", "x-trace", "accept", "idempotency-key", "content-type"}


@pytest.mark.parametrize(
    ("target", "header", "shown"),
    [
        ({"kind": "api7"}, "X-API-KEY", "***"),
        ({"kind": "api7", "auth": "cookie"}, "Cookie", "X-API-KEY=***"),
        ({"kind": "coding", "auth": "basic", "basic_user": "bot"}, "Authorization", "Basic ***"),
        ({"kind": "bearer"}, "Authorization", "Bearer ***"),
    ],
)
def test_the_token_is_masked_in_every_auth_mode(config: Any, target: dict[str, Any], header: str, shown: str) -> None:
    call = _planned_call(config, {**target, "base_url": "https://t.test:8443", "token_secret": "t-token-secret-4711"})
    assert call["headers"][header] == shown
    assert call["url"] == "https://t.test:8443/x"
    assert "t-token-secret-4711" not in json.dumps(call)


def test_the_dry_run_shows_what_target_client_build_request_builds(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.targets.client import TargetClient

    build = TargetClient.build_request

    def marked(self: TargetClient, *args: Any, **kwargs: Any) -> httpx.Request:
        request = build(self, *args, **kwargs)
        request.headers["X-Built-By"] = "build_request"
        return request

    monkeypatch.setattr(TargetClient, "build_request", marked)
    call = _planned_call(config, {"kind": "bearer", "base_url": "http://t.test"})
    assert call["headers"]["X-Built-By"] == "build_request"


def test_the_dry_run_masks_every_secret_the_shared_collector_finds(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.ops.logs import secret_values

    # One collector for logs and dry runs: whatever it finds in the settings is masked in the report.
    monkeypatch.setattr("worker.cli.rules.secret_values", lambda model: secret_values(model) | {"acme/orders-api"})
    config({**BASE, "rules": [{"name": "r", "do": [{"notify": "ops", "text": "{{ payload.repository.full_name }}"}]}]})

    result = dry_run("github", "push", "github_push", "--json")

    assert result.exit_code == 0, result.output
    assert "acme/orders-api" not in result.output
    assert json.loads(result.stdout)["matched"][0]["actions"][0]["text"] == "***"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--payload", "{missing}"], "Invalid value for '--payload'"),
        (["--payload", "{bad}"], "relay: --payload: "),
        (["--payload", "{payload}", "--headers", "{list}"], "--headers: the file must hold a JSON object"),
    ],
)
def test_unreadable_input_is_a_one_line_error(config: Any, tmp_path: Path, args: list[str], message: str) -> None:
    config(BASE)
    files = {"missing": tmp_path / "missing.json", "bad": tmp_path / "bad.json", "list": tmp_path / "list.json",
             "payload": PAYLOADS / "github_push.json"}  # fmt: skip
    files["bad"].write_text("{not json")
    files["list"].write_text("[1, 2]")

    result = run("test", "--source", "github", "--event", "push", *[a.format(**files) for a in args])

    # A file Click cannot open is a usage error (2); a file that opens but cannot be read is a failure (1).
    assert result.exit_code == (2 if message.startswith("Invalid value") else 1)
    assert message in result.output
    assert "Traceback" not in result.output


def test_payload_from_standard_input(config: Any) -> None:
    config({**BASE, "rules": [{"name": "r", "do": [{"notify": "ops", "text": "{{ payload.n * 2 }}"}]}]})
    result = CliRunner().invoke(
        main, ["rules", "test", "--source", "github", "--event", "push", "--payload", "-", "--json"], input='{"n": 21}'
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matched"][0]["actions"][0]["text"] == "42"
