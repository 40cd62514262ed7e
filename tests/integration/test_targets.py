"""Admin API targets over real HTTP against the sandbox: faults through a real worker, and the clients end to end."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr

from tests.contract.openapi import ContractTransport
from tests.integration.support import Stack, call, rule, stack_config
from tests.support import Sandbox, Server, github_delivery, wait_for_event
from tests.worker.targets.api7_client import Api7Client
from worker.config import TargetConfig
from worker.errors import AuthError, PermanentError, RetryableError
from worker.store.events import EventRecord, EventStatus, EventStore
from worker.targets import CodingClient, Credential, TargetClient

pytestmark = pytest.mark.integration

SECRET = "github-webhook-secret-for-target-tests"
GROUPS = "/api/gateway_groups"
MISSING = "/apisix/admin/services/does-not-exist"


def deliver(receiver: Server, event: str) -> str:
    """Post a signed GitHub delivery of type ``event`` and return the event id."""
    delivery = github_delivery({"ref": "refs/heads/main"}, event=event, secret=SECRET)
    response = httpx.post(f"{receiver.url}/hooks/github", **delivery, timeout=10)
    assert response.status_code == 202, response.text
    event_id: str = response.json()["event_id"]
    return event_id


@pytest.fixture
def relay(stack: Callable[..., Stack], sandbox: Sandbox) -> Server:
    """Receiver + worker + sandbox; push lists gateway groups, release reads a service that does not exist."""
    rules = [rule("list-groups", call(GROUPS), event="push"), rule("read-missing", call(MISSING), event="release")]
    # Retry delays come from backoff_delay capped here: small, so the test is quick (1 is the minimum).
    return stack(stack_config(sandbox, *rules, secret=SECRET, celery={"retry_backoff_max": 1})).receiver


def calls_to(sandbox: Sandbox, path: str) -> list[dict[str, Any]]:
    """The sandbox's recorded requests for ``path``."""
    return [r for r in sandbox.requests() if r["path"] == path]


def test_two_503s_and_a_429_are_retried_until_done(relay: Server, sandbox: Sandbox, redis_client: redis.Redis) -> None:
    sandbox.fault(status=503, count=2, path=GROUPS)
    sandbox.fault(status=429, retry_after=1, count=1, path=GROUPS)

    event_id = deliver(relay, "push")

    record = wait_for_event(EventStore(redis_client, retention_seconds=60), event_id, EventStatus.DONE, timeout=30)
    assert record.attempts == 4
    [action] = record.actions
    assert (action.ok, action.status_code, action.attempts) == (True, 200, 4)
    calls = calls_to(sandbox, GROUPS)
    assert [c["status"] for c in calls] == [503, 503, 429, 200]
    # Every attempt is the same action: the same Idempotency-Key each time.
    assert {c["idempotency_key"] for c in calls} == {f"{event_id}:list-groups:0"}


def test_a_404_fails_at_once_with_the_servers_message(
    relay: Server, sandbox: Sandbox, redis_client: redis.Redis
) -> None:
    store = EventStore(redis_client, retention_seconds=60)

    failed = wait_for_event(store, deliver(relay, "release"), EventStatus.FAILED)
    # A later event through the same single worker: once it is done, nothing of the first is still pending.
    wait_for_event(store, deliver(relay, "push"), EventStatus.DONE)

    assert failed.attempts == 1
    assert failed.error is not None
    assert "answered 404: service not found: does-not-exist" in failed.error
    [action] = failed.actions
    assert (action.ok, action.status_code, action.attempts) == (False, 404, 1)
    assert len(calls_to(sandbox, MISSING)) == 1
    assert_no_secret(failed, sandbox.token)


def assert_no_secret(record: EventRecord, secret: str) -> None:
    """The stored record, every field of it, holds no part of the target's secret."""
    assert secret not in json.dumps(record.__dict__, default=str)


# The clients against the sandbox over real HTTP, without a worker.


@pytest.fixture
def contract_transport() -> Iterator[ContractTransport]:
    """Real HTTP, with every request checked against API7's description."""
    transport = httpx.HTTPTransport()
    checked = ContractTransport(transport.handle_request)
    yield checked
    transport.close()


class Rotating:
    """A TokenSource that answers ``first`` once, then ``then``: a rotation landing while a call is in flight."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [Credential(SecretStr(first), 1), Credential(SecretStr(then), 2)]

    def current(self, name: str) -> Credential:
        """The next credential (the last one repeats)."""
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def target(sandbox: Sandbox, secret: str, transport: httpx.BaseTransport | None = None, **config: Any) -> TargetClient:
    """A client of the sandbox sending ``secret``."""
    settings = TargetConfig.model_validate({"kind": "api7", "base_url": sandbox.url, **config})
    return TargetClient("sandbox", settings, Rotating(secret, secret), transport=transport)


@pytest.mark.parametrize("prefix", ["/api/settings/tokens", "/api/tokens"])
def test_the_token_lifecycle_against_the_sandbox(
    sandbox: Sandbox, contract_transport: ContractTransport, prefix: str
) -> None:
    admin = Api7Client(target(sandbox, sandbox.token, contract_transport, token_path_prefix=prefix), page_size=1)
    tokens = admin.tokens

    created = tokens.create("relay-it", 0)
    assert created.token is not None
    listed = list(tokens.list())  # page_size=1: one page per token
    assert {t.name for t in listed} >= {"bootstrap", "relay-it"}
    assert all(t.token is None for t in listed)
    assert tokens.find("relay-it") == tokens.get(created.id)
    assert tokens.update(created.id, "relay-it-2").name == "relay-it-2"

    # The new secret works, until it is regenerated: then only the newest one does.
    Api7Client(target(sandbox, created.token.get_secret_value())).gateway_group("default")
    regenerated = tokens.regenerate(created.id, 0)
    assert regenerated.token is not None
    assert regenerated.token != created.token
    with pytest.raises(AuthError):
        Api7Client(target(sandbox, created.token.get_secret_value())).gateway_group("default")
    Api7Client(target(sandbox, regenerated.token.get_secret_value(), auth="cookie")).gateway_group("default")

    deleted = tokens.delete(created.id)
    assert deleted is None or deleted.id == created.id
    with pytest.raises(PermanentError, match="404"):
        tokens.get(created.id)
    assert contract_transport.errors == []


def test_a_401_after_a_rotation_is_retried_with_the_new_secret(sandbox: Sandbox) -> None:
    admin = Api7Client(target(sandbox, sandbox.token))
    issued = admin.tokens.create("rotated-in-flight", 0)
    assert issued.token is not None
    old = issued.token.get_secret_value()
    fresh = admin.tokens.regenerate(issued.id, 0).token
    assert fresh is not None
    settings = TargetConfig.model_validate({"kind": "api7", "base_url": sandbox.url})
    client = TargetClient("sandbox", settings, Rotating(old, fresh.get_secret_value()))

    assert list(Api7Client(client).gateway_groups())

    calls = calls_to(sandbox, GROUPS)
    assert [(c["authenticated"], c["status"]) for c in calls] == [(False, 401), (True, 200)]


def test_services_and_publish_against_the_sandbox(sandbox: Sandbox, contract_transport: ContractTransport) -> None:
    admin = Api7Client(target(sandbox, sandbox.token, contract_transport))
    upstream = {"nodes": [{"host": "10.0.0.1", "port": 8080, "weight": 100}]}

    service = admin.create_service({"name": "orders", "upstream": upstream})
    assert admin.service(service["id"])["name"] == "orders"
    published = admin.publish("default", [{"service_id": service["id"], "version": "1.0.0", "upstream": upstream}])
    assert published["gateway_group_id"] == "default"
    assert [s["id"] for s in admin.services(gateway_group_id="default")] == [service["id"]]
    assert len(list(admin.published_services("default"))) == 1
    assert contract_transport.errors == []


def test_a_slow_answer_times_out_as_retryable(sandbox: Sandbox) -> None:
    sandbox.fault(latency_ms=800, count=1, path=GROUPS)
    client = target(sandbox, sandbox.token, read_timeout=0.2)

    with pytest.raises(RetryableError, match=r"timed out \(ReadTimeout\)"):
        client.call("GET", GROUPS)


def test_a_fault_with_retry_after_is_reported_over_http(sandbox: Sandbox) -> None:
    sandbox.fault(status=429, retry_after=3, count=1)

    with pytest.raises(RetryableError) as caught:
        target(sandbox, sandbox.token).call("GET", GROUPS)

    assert (caught.value.status_code, caught.value.retry_after) == (429, 3.0)


def test_nothing_listening_is_retryable(sandbox: Sandbox) -> None:
    settings = TargetConfig.model_validate({"kind": "bearer", "base_url": "http://127.0.0.1:9", "connect_timeout": 1})
    client = TargetClient("down", settings, Rotating(sandbox.token, sandbox.token))

    with pytest.raises(RetryableError, match=r"failed \(ConnectError\)"):
        client.call("GET", "/")


@pytest.mark.parametrize(("auth", "user"), [("bearer", None), ("basic", "relay-bot")])
def test_coding_actions_against_the_sandbox(sandbox: Sandbox, auth: str, user: str | None) -> None:
    settings = TargetConfig.model_validate(
        {"kind": "coding", "base_url": sandbox.url, "auth": auth, "basic_user": user}
    )
    coding = CodingClient(TargetClient("coding", settings, Rotating(sandbox.token, sandbox.token)))

    assert coding.current_user()["GlobalKey"]
    with pytest.raises(PermanentError) as caught:
        coding.action("NoSuchAction")
    assert caught.value.code == "InvalidAction"
    assert caught.value.status_code == 200


def test_a_refused_coding_token_is_an_auth_error(sandbox: Sandbox) -> None:
    settings = TargetConfig.model_validate({"kind": "coding", "base_url": sandbox.url})
    coding = CodingClient(TargetClient("coding", settings, Rotating("not-a-token", "not-a-token")))

    with pytest.raises(AuthError) as caught:
        coding.current_user()

    assert caught.value.code == "AuthFailure"
    assert "not-a-token" not in str(caught.value)
