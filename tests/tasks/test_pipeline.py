"""Processing logic over fakeredis and httpx.MockTransport: outcomes, retries, at-most-once actions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded
from cryptography.fernet import Fernet

from tasks import pipeline
from tasks.run import retries_spent
from tests.tasks import support
from worker.config import Settings
from worker.errors import AuthError
from worker.runtime import Runtime
from worker.store.events import EVENT_KEY, EventStatus
from worker.store.locks import event_lock
from worker.targets import ConfigTokens
from worker.tokens.keys import parse_keys
from worker.tokens.lifecycle import report_refused
from worker.tokens.records import TokenStatus
from worker.tokens.store import TokenStore

TOKEN = "system-token-secret-value"

Handler = Callable[[httpx.Request], httpx.Response]


def recording(seen: list[httpx.Request], status: int = 200) -> Handler:
    """A handler that records each request and answers ``status``."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return handler


def make_settings(**extra: Any) -> Settings:
    return Settings(
        targets={"gw": {"kind": "api7", "base_url": "http://gw.test", "token_secret": TOKEN}},
        rules=[
            {
                "name": "publish",
                "on": {"source": "github", "event": "release"},
                "if": "payload.action == 'published'",
                "do": [
                    {"call": "gw", "method": "POST", "path": "/api/services/publish",
                     "json": {"services": ["{{ payload.release.tag_name }}"], "count": "{{ payload.n }}"}},
                    {"call": "gw", "method": "GET", "path": "/api/gateway_groups"},
                ],
            }
        ],
        **extra,
    )  # fmt: skip


@pytest.fixture
def runtime_for(fake_redis: redis.Redis) -> Callable[[Handler], Runtime]:
    def build(handler: Handler, **extra: Any) -> Runtime:
        settings = make_settings(**extra)
        return Runtime(settings, fake_redis, ConfigTokens(settings), transport=httpx.MockTransport(handler))

    return build


def store_event(runtime: Runtime, payload: Any, *, event_type: str = "release") -> str:
    """Store a GitHub event for ``payload`` and return its id."""
    return support.store_event(runtime, "github", event_type, payload)


RELEASE = {"action": "published", "release": {"tag_name": "v1.2.3"}, "n": 3}


def test_matching_event_runs_every_action_with_rendered_values(runtime_for: Callable[..., Runtime]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"value": {}})

    runtime = runtime_for(handler)
    event_id = store_event(runtime, RELEASE)

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/api/services/publish"),
        ("GET", "/api/gateway_groups"),
    ]
    assert json.loads(seen[0].content) == {"services": ["v1.2.3"], "count": 3}
    assert seen[0].headers["X-API-KEY"] == TOKEN
    assert seen[0].headers["Idempotency-Key"] == f"{event_id}:publish:0"
    assert seen[1].headers["Idempotency-Key"] == f"{event_id}:publish:1"
    record = runtime.events.get(event_id)
    assert record.status == EventStatus.DONE
    assert [(a.key, a.ok) for a in record.actions] == [
        (f"{event_id}:publish:0", True),
        (f"{event_id}:publish:1", True),
    ]


def test_cookie_auth_sends_the_token_as_a_cookie(fake_redis: redis.Redis) -> None:
    seen: list[httpx.Request] = []
    settings = make_settings()
    settings.targets["gw"] = settings.targets["gw"].model_copy(update={"auth": "cookie"})
    runtime = Runtime(
        settings, fake_redis, ConfigTokens(settings),
        transport=httpx.MockTransport(recording(seen)),
    )  # fmt: skip
    pipeline.process(runtime, store_event(runtime, RELEASE))

    assert seen[0].headers["Cookie"] == f"X-API-KEY={TOKEN}"
    assert "X-API-KEY" not in seen[0].headers


@pytest.mark.parametrize(
    ("payload", "event_type", "reason"),
    [
        (
            {"action": "created", "release": {"tag_name": "v1"}},
            "release",
            "no rule matched source=github event=release",
        ),
        (RELEASE, "push", "no rule matched source=github event=push"),
    ],
)
def test_event_without_matching_rule_is_skipped(
    runtime_for: Callable[..., Runtime], payload: Any, event_type: str, reason: str
) -> None:
    runtime = runtime_for(lambda r: pytest.fail("nothing should be called"))
    event_id = store_event(runtime, payload, event_type=event_type)

    assert pipeline.process(runtime, event_id).status == EventStatus.SKIPPED
    assert runtime.events.get(event_id).error == reason


def test_transient_failure_asks_for_a_retry_and_the_rerun_skips_done_actions(
    runtime_for: Callable[..., Runtime],
) -> None:
    calls: list[str] = []
    failures = iter([503])

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/api/gateway_groups":
            status = next(failures, 200)
            return httpx.Response(status, json={"error_msg": "busy"} if status >= 500 else {"list": []})
        return httpx.Response(200, json={})

    runtime = runtime_for(handler)
    event_id = store_event(runtime, RELEASE)

    first = pipeline.process(runtime, event_id)
    assert first.status == EventStatus.RETRYING
    assert first.retry_in is not None
    assert runtime.events.get(event_id).status == EventStatus.RETRYING
    assert "busy" in (runtime.events.get(event_id).error or "")

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert calls == ["/api/services/publish", "/api/gateway_groups", "/api/gateway_groups"]
    record = runtime.events.get(event_id)
    assert [(a.index, a.ok, a.attempts) for a in record.actions] == [(0, True, 1), (1, True, 2)]
    assert record.error is None


def test_status_changes_leave_the_payload_as_the_receiver_wrote_it(runtime_for: Callable[..., Runtime]) -> None:
    failures = iter([503])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(failures, 200) if request.url.path == "/api/gateway_groups" else 200
        return httpx.Response(status, json={})

    runtime = runtime_for(handler)
    event_id = store_event(runtime, RELEASE)
    # Valid JSON in a form the store never writes (spaces, key order): a rewrite of the record would change it.
    received = b'{ "n": 3, "release": { "tag_name": "v1.2.3" },  "action": "published" }'
    runtime.redis.hset(EVENT_KEY + event_id, "payload", received)

    assert pipeline.process(runtime, event_id).status == EventStatus.RETRYING  # running, then retrying
    assert runtime.redis.hget(EVENT_KEY + event_id, "payload") == received
    assert pipeline.process(runtime, event_id).status == EventStatus.DONE  # running, then done
    assert runtime.redis.hget(EVENT_KEY + event_id, "payload") == received
    record = runtime.events.get(event_id)
    assert (record.attempts, record.error, [a.ok for a in record.actions]) == (2, None, [True, True])


def test_retry_after_from_a_429_sets_the_delay(runtime_for: Callable[..., Runtime]) -> None:
    runtime = runtime_for(lambda r: httpx.Response(429, headers={"Retry-After": "7"}))
    assert pipeline.process(runtime, store_event(runtime, RELEASE)).retry_in == 7.0


def test_client_error_fails_at_once_into_the_dead_letters(runtime_for: Callable[..., Runtime]) -> None:
    runtime = runtime_for(lambda r: httpx.Response(404, json={"error_msg": "service not found"}))
    event_id = store_event(runtime, RELEASE)

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED
    record = runtime.events.get(event_id)
    assert record.error is not None
    assert "rule 'publish' action 0" in record.error
    assert "404" in record.error
    assert "service not found" in record.error
    assert [r.id for r in runtime.events.dead_letters()] == [event_id]
    assert runtime.redis.ttl(EVENT_KEY + event_id) == -1  # dead letters do not expire


def test_retries_are_capped(runtime_for: Callable[..., Runtime]) -> None:
    runtime = runtime_for(lambda r: httpx.Response(503), celery={"max_retries": 2})
    event_id = store_event(runtime, RELEASE)

    statuses = [pipeline.process(runtime, event_id).status for _ in range(3)]

    assert statuses == [EventStatus.RETRYING, EventStatus.RETRYING, EventStatus.FAILED]
    assert runtime.events.get(event_id).attempts == 3


@pytest.mark.parametrize(
    ("max_retries", "attempts", "spent"),
    [(0, 0, False), (0, 1, True), (2, 0, False), (2, 2, False), (2, 3, True), (2, 4, True), (8, 9, True)],
)
def test_the_retry_budget_is_the_first_run_and_max_retries_more(max_retries: int, attempts: int, spent: bool) -> None:
    assert retries_spent(attempts, make_settings(celery={"max_retries": max_retries}).celery) is spent


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_every_path_gives_up_at_the_same_bound(runtime_for: Callable[..., Runtime], max_retries: int) -> None:
    # A failed run, an interrupted run and a redelivered message (the start script's bound too) ask retries_spent.
    calls: list[httpx.Request] = []
    runtime = runtime_for(recording(calls, 503), celery={"max_retries": max_retries})
    limits = runtime.settings.celery
    failing = store_event(runtime, RELEASE)

    statuses = [pipeline.process(runtime, failing).status for _ in range(max_retries + 1)]

    assert statuses == [EventStatus.RETRYING] * max_retries + [EventStatus.FAILED]
    assert len(calls) == max_retries + 1
    for attempts in range(max_retries + 3):
        cut, redelivered = store_event(runtime, RELEASE), store_event(runtime, RELEASE)
        for event_id, status in ((cut, EventStatus.RUNNING), (redelivered, EventStatus.RETRYING)):
            record = runtime.events.get(event_id)
            record.attempts, record.status = attempts, status
            runtime.events.save(record)
        before = len(calls)
        gave_up = retries_spent(attempts, limits)
        assert (pipeline.interrupted(runtime, cut, "time limit").status == EventStatus.FAILED) is gave_up
        last_run = gave_up or retries_spent(attempts + 1, limits)
        assert (pipeline.process(runtime, redelivered).status == EventStatus.FAILED) is last_run
        assert (len(calls) == before) is gave_up  # a run past the budget does not call the target
        assert runtime.events.get(redelivered).attempts == attempts + (not gave_up)  # nor counts as an attempt


def test_finished_event_is_not_processed_again(runtime_for: Callable[..., Runtime]) -> None:
    calls: list[httpx.Request] = []
    runtime = runtime_for(recording(calls))
    event_id = store_event(runtime, RELEASE)
    pipeline.process(runtime, event_id)

    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert len(calls) == 2


def test_missing_template_field_fails_naming_it(runtime_for: Callable[..., Runtime]) -> None:
    runtime = runtime_for(lambda r: httpx.Response(200))
    event_id = store_event(runtime, {"action": "published", "release": {}, "n": 1})

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED
    assert "tag_name" in (runtime.events.get(event_id).error or "")


def test_token_never_reaches_the_event_record(runtime_for: Callable[..., Runtime]) -> None:
    runtime = runtime_for(lambda r: httpx.Response(400, json={"error_msg": f"bad key {TOKEN}"}))
    event_id = store_event(runtime, RELEASE)
    pipeline.process(runtime, event_id)

    stored = b"".join(runtime.redis.hvals(EVENT_KEY + event_id))  # type: ignore[arg-type]
    assert TOKEN.encode() not in stored
    assert "bad key ***" in (runtime.events.get(event_id).error or "")


def test_a_failed_notification_is_recorded_as_a_notify_action(fake_redis: redis.Redis) -> None:
    settings = Settings(
        channels={"ops": {"kind": "slack", "url": "https://hooks.slack.example/T0/B0/secret-path"}},
        rules=[{"name": "tell", "on": {"source": "github"}, "do": [{"notify": "ops", "text": "hi"}]}],
    )
    slack = httpx.MockTransport(lambda r: httpx.Response(404, text="no_service"))
    runtime = Runtime(settings, fake_redis, ConfigTokens(settings), transport=slack)
    event_id = store_event(runtime, RELEASE)

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED
    [action] = runtime.events.get(event_id).actions
    assert (action.kind, action.target, action.ok) == ("notify", "ops", False)
    assert "secret-path" not in (action.error or "")


@pytest.mark.parametrize(("status", "token_status"), [(401, TokenStatus.INVALID), (403, TokenStatus.OK)])
def test_a_refused_token_is_marked_invalid_but_a_missing_permission_is_not(
    fake_redis: redis.Redis, status: int, token_status: TokenStatus
) -> None:
    settings = make_settings()
    store = TokenStore(fake_redis, parse_keys(Fernet.generate_key().decode(), origin="RELAY_TOKEN_KEY"))
    store.add("gw", "gw", TOKEN)
    runtime = Runtime(settings, fake_redis, store, transport=httpx.MockTransport(lambda r: httpx.Response(status)))
    event_id = store_event(runtime, RELEASE)

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED
    assert store.get("gw").status == token_status


def test_an_attempt_cut_by_the_time_limit_is_retried_then_given_up(runtime_for: Callable[..., Runtime]) -> None:
    runtime = runtime_for(lambda r: httpx.Response(200), celery={"max_retries": 1})
    event_id = store_event(runtime, RELEASE)
    record = runtime.events.get(event_id)
    record.attempts = 1  # the attempt that was running when the limit struck
    runtime.events.save(record)

    first = pipeline.interrupted(runtime, event_id, "the task ran past its soft time limit")
    assert (first.status, first.retry_in is not None) == (EventStatus.RETRYING, True)
    assert runtime.events.get(event_id).error == "the task ran past its soft time limit"

    record = runtime.events.get(event_id)
    record.attempts = 2
    runtime.events.save(record)
    assert pipeline.interrupted(runtime, event_id, "the task ran past its soft time limit").status == EventStatus.FAILED
    assert [r.id for r in runtime.events.dead_letters()] == [event_id]


def test_an_attempt_cut_short_after_an_action_does_not_repeat_it(runtime_for: Callable[..., Runtime]) -> None:
    calls: list[str] = []
    cut = iter([True])

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/api/gateway_groups" and next(cut, False):
            raise SoftTimeLimitExceeded  # what Celery raises inside the task when its soft time limit strikes
        return httpx.Response(200, json={})

    runtime = runtime_for(handler)
    event_id = store_event(runtime, RELEASE)

    with pytest.raises(SoftTimeLimitExceeded):
        pipeline.process(runtime, event_id)
    assert pipeline.interrupted(runtime, event_id, "time limit").status == EventStatus.RETRYING
    assert pipeline.process(runtime, event_id).status == EventStatus.DONE

    assert calls == ["/api/services/publish", "/api/gateway_groups", "/api/gateway_groups"]


def test_a_saved_answer_still_feeds_later_actions_when_the_event_is_retried(fake_redis: redis.Redis) -> None:
    settings = Settings(
        targets={"gw": {"kind": "api7", "base_url": "http://gw.test", "token_secret": TOKEN}},
        rules=[
            {
                "name": "chain",
                "do": [
                    {"call": "gw", "method": "GET", "path": "/api/gateway_groups", "save_as": "groups"},
                    {"call": "gw", "method": "POST", "path": "/api/services/publish",
                     "json": {"gateway_group_id": "{{ saved.groups.list[0].id }}"}},
                ],
            }
        ],
    )  # fmt: skip
    bodies: list[Any] = []
    failures = iter([503])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"total": 1, "list": [{"id": "default"}]})
        bodies.append(json.loads(request.content))
        return httpx.Response(next(failures, 200), json={})

    runtime = Runtime(settings, fake_redis, ConfigTokens(settings), transport=httpx.MockTransport(handler))
    event_id = store_event(runtime, RELEASE)

    assert pipeline.process(runtime, event_id).status == EventStatus.RETRYING
    assert pipeline.process(runtime, event_id).status == EventStatus.DONE
    assert bodies == [{"gateway_group_id": "default"}] * 2


def test_an_event_already_running_elsewhere_is_left_to_that_run(runtime_for: Callable[..., Runtime]) -> None:
    calls: list[httpx.Request] = []
    runtime = runtime_for(recording(calls))
    event_id = store_event(runtime, RELEASE)
    other_worker = event_lock(runtime.redis, event_id, 60)
    assert other_worker.acquire()

    assert pipeline.process(runtime, event_id).status == EventStatus.RUNNING
    assert calls == []
    assert runtime.events.get(event_id).attempts == 0

    other_worker.release()
    assert pipeline.process(runtime, event_id).status == EventStatus.DONE


def test_a_refused_token_alerts_operators_at_once(fake_redis: redis.Redis) -> None:
    settings = make_settings(channels={"ops": {"kind": "slack", "url": "https://hooks.slack.example/T0/B0/x"}})
    alerts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host != "hooks.slack.example":
            return httpx.Response(401)  # the admin API refuses the token
        alerts.append(json.loads(request.content)["text"])
        return httpx.Response(200, text="ok")

    store = TokenStore(fake_redis, parse_keys(Fernet.generate_key().decode(), origin="RELAY_TOKEN_KEY"))
    store.add("gw", "gw", TOKEN)
    runtime = Runtime(settings, fake_redis, store, transport=httpx.MockTransport(handler))

    pipeline.process(runtime, store_event(runtime, RELEASE))

    assert len(alerts) == 1
    assert "token gw (target gw) was refused by the admin API" in alerts[0]
    assert "relay tokens set gw" in alerts[0]
    assert TOKEN not in alerts[0]


def test_a_secret_installed_meanwhile_is_not_marked_invalid(fake_redis: redis.Redis) -> None:
    settings = make_settings()
    store = TokenStore(fake_redis, parse_keys(Fernet.generate_key().decode(), origin="RELAY_TOKEN_KEY"))
    store.add("gw", "gw", TOKEN)
    runtime = Runtime(settings, fake_redis, store)
    refused_old_version = AuthError("gw: GET / answered 401", status_code=401, token_version=0, refused=True)

    assert report_refused(runtime.tokens, settings, "gw", refused_old_version) is None

    assert store.get("gw").status == TokenStatus.OK


def test_payload_text_with_no_utf8_form_fails_the_call_clearly(runtime_for: Callable[..., Runtime]) -> None:
    runtime = runtime_for(lambda r: pytest.fail("nothing can be sent"))
    event_id = store_event(runtime, {**RELEASE, "release": {"tag_name": "v1-\ud800"}})

    assert pipeline.process(runtime, event_id).status == EventStatus.FAILED
    error = runtime.events.get(event_id).error or ""
    assert "rule 'publish' action 0: gw: POST /api/services/publish: the request cannot be encoded" in error
