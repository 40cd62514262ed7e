"""The rotation protocol against the sandbox as API7: success, lost answers, refusals, the lock, interruptions."""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.support import FakeClock
from tests.worker.tokens.support import DAY, NOW, Api7, Sent
from worker.config import Settings
from worker.store.locks import rotation_lock
from worker.targets.client import TargetClient
from worker.tokens.notify import Notifier
from worker.tokens.records import TokenStatus
from worker.tokens.rotation import RotationOutcome, Rotator
from worker.tokens.store import TokenStore


@pytest.fixture
def rotator(store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock) -> Rotator:
    notifier = Notifier(store, settings, send=sent)
    return Rotator(
        store, settings, notifier, transport=api.transport, settle_seconds=0, clock=clock, sleep=lambda s: None
    )


@pytest.fixture
def old_secret(store: TokenStore, api: Api7) -> str:
    secret = api.issue("tok-1", int(NOW + 10 * DAY))
    store.add("gw-token", "gw", secret, token_id=api.ids["tok-1"], expires_at=int(NOW + 10 * DAY))
    return secret


def regenerate_calls(api: Api7) -> int:
    """Regenerate requests Relay sent (acted on or not)."""
    return sum(1 for r in api.requests if r.url.path.endswith("/regenerate"))


def test_rotation_stores_the_new_secret_and_kills_the_old(
    rotator: Rotator, store: TokenStore, api: Api7, sent: Sent, old_secret: str, clock: FakeClock
) -> None:
    result = rotator.rotate("gw-token", reason="test")

    assert result.outcome == RotationOutcome.ROTATED
    assert result.version == 2
    new = store.current("gw-token")
    assert new.version == 2
    assert result.secret is not None
    assert new.secret.get_secret_value() == result.secret.get_secret_value()
    assert api.accepts(new.secret.get_secret_value())
    assert not api.accepts(old_secret)
    record = store.get("gw-token")
    assert record.status == TokenStatus.OK
    assert record.expires_at == int(clock.now + 30 * DAY)  # new_lifetime_days
    assert record.rotated_at == clock.now
    assert [e.kind for e in store.history("gw-token")][:3] == ["rotation", "rotated", "rotation-started"]
    assert any("rotated to version 2" in text for text in sent.texts())
    assert new.secret.get_secret_value() not in "".join(sent.texts() + [e.message for e in store.history("gw-token")])


def test_a_lost_answer_with_the_old_secret_dead_is_invalid_with_an_alert_and_no_retry(
    rotator: Rotator, store: TokenStore, api: Api7, sent: Sent, old_secret: str
) -> None:
    api.lose_regenerate = True

    result = rotator.rotate("gw-token", reason="test")

    assert result.outcome == RotationOutcome.INVALID
    assert regenerate_calls(api) == 1
    record = store.get("gw-token")
    assert (record.status, record.version) == (TokenStatus.INVALID, 1)
    alerts = [text for text in sent.texts() if "no longer valid" in text]
    assert len(alerts) == 2
    assert "relay tokens set gw-token" in alerts[0]
    assert f"regenerate token {api.ids['tok-1']}" in alerts[0]
    kinds = [e.kind for e in store.history("gw-token")]
    assert "rotation-lost" in kinds
    assert "invalid" in kinds


def test_a_lost_answer_with_the_old_secret_alive_means_no_rotation(
    rotator: Rotator, store: TokenStore, api: Api7, old_secret: str
) -> None:
    api.refuse_next_regenerate(503)  # answered 5xx without acting

    result = rotator.rotate("gw-token", reason="test")

    assert result.outcome == RotationOutcome.NOT_ROTATED
    assert regenerate_calls(api) == 1
    record = store.get("gw-token")
    assert (record.status, record.version) == (TokenStatus.OK, 1)
    assert api.accepts(old_secret)
    assert store.history("gw-token")[0].kind == "rotation-failed"


def test_an_unreachable_api_leaves_the_outcome_open_and_alerts(
    rotator: Rotator, store: TokenStore, api: Api7, sent: Sent, old_secret: str
) -> None:
    api.down = True
    result = rotator.rotate("gw-token", reason="test")
    assert result.outcome == RotationOutcome.UNKNOWN
    assert store.get("gw-token").status == TokenStatus.ROTATING
    assert any("cannot be reached" in text for text in sent.texts())

    api.down = False  # the next check settles it: the old secret still works
    settled = rotator.recover_stale("gw-token")
    assert settled is not None
    assert settled.outcome == RotationOutcome.NOT_ROTATED
    assert store.get("gw-token").status == TokenStatus.OK


@pytest.mark.parametrize(("status", "outcome"), [(401, RotationOutcome.INVALID), (429, RotationOutcome.NOT_ROTATED)])
def test_a_definite_refusal_is_not_a_lost_answer(
    rotator: Rotator, store: TokenStore, api: Api7, old_secret: str, status: int, outcome: RotationOutcome
) -> None:
    api.refuse_next_regenerate(status)
    assert rotator.rotate("gw-token", reason="test").outcome == outcome
    assert len(api.requests) == 1  # the regenerate only: no probing, no second attempt
    expected = TokenStatus.INVALID if outcome == RotationOutcome.INVALID else TokenStatus.OK
    assert store.get("gw-token").status == expected


def test_only_one_rotation_runs_at_a_time(
    rotator: Rotator, store: TokenStore, fake_redis: redis.Redis, api: Api7, old_secret: str
) -> None:
    lock = rotation_lock(fake_redis, "gw-token", 30)
    assert lock.acquire()
    assert rotator.rotate("gw-token", reason="test").outcome == RotationOutcome.BUSY
    assert api.requests == []
    lock.release()
    assert rotator.rotate("gw-token", reason="test").outcome == RotationOutcome.ROTATED


def test_a_rotation_someone_else_did_is_not_repeated(rotator: Rotator, api: Api7, old_secret: str) -> None:
    assert rotator.rotate("gw-token", reason="first", expected_version=1).outcome == RotationOutcome.ROTATED
    assert rotator.rotate("gw-token", reason="second", expected_version=1).outcome == RotationOutcome.ALREADY
    assert api.regenerates == 1


def test_tokens_that_cannot_rotate_are_refused_without_a_call(rotator: Rotator, store: TokenStore, api: Api7) -> None:
    store.add("git", "git", "a7ee-x")
    store.add("no-id", "gw", "a7ee-y")
    assert "does not rotate" in rotator.rotate("git", reason="t").message
    assert "--token-id" in rotator.rotate("no-id", reason="t").message
    assert api.requests == []


def test_an_interrupted_rotation_whose_secret_died_becomes_invalid(
    rotator: Rotator, store: TokenStore, api: Api7, sent: Sent, old_secret: str
) -> None:
    store.set_status("gw-token", TokenStatus.ROTATING, "rotating: test")
    api.regenerate("tok-1", int(NOW + 30 * DAY))  # the dead process's regenerate happened; its answer is gone

    result = rotator.recover_stale("gw-token")

    assert result is not None
    assert result.outcome == RotationOutcome.INVALID
    assert store.get("gw-token").status == TokenStatus.INVALID
    assert any("relay tokens set gw-token" in text for text in sent.texts())


def test_a_worker_call_meeting_a_401_picks_up_the_rotated_secret(
    rotator: Rotator, store: TokenStore, settings: Settings, api: Api7, old_secret: str
) -> None:
    """The client's one re-read after a 401 reaches Redis, not a stale cache."""
    stale = store.current("gw-token")  # a worker read the secret just before the rotation
    rotated = False

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal rotated
        if not rotated:  # the rotation lands while the worker's request is on its way
            rotated = True
            assert rotator.rotate("gw-token", reason="meanwhile").outcome == RotationOutcome.ROTATED
        return api.handler(request)

    class StaleFirst:
        """Answers the stale credential once (the worker's first read), then the store's."""

        calls = 0

        def current(self, name: str) -> object:
            StaleFirst.calls += 1
            return stale if StaleFirst.calls == 1 else store.current(name)

    client = TargetClient("gw", settings.targets["gw"], StaleFirst(), transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    try:
        result = client.call("GET", "/api/gateway_groups")
    finally:
        client.close()
    assert result.status_code == 200
    assert StaleFirst.calls == 2


def test_a_rotation_never_regenerates_on_top_of_an_unsettled_one(
    rotator: Rotator, store: TokenStore, api: Api7, old_secret: str
) -> None:
    store.set_status("gw-token", TokenStatus.ROTATING, "rotating: a process that died")

    result = rotator.rotate("gw-token", reason="test")

    assert result.outcome == RotationOutcome.NOT_ROTATED  # settled: the old secret still works
    assert regenerate_calls(api) == 0
    assert store.get("gw-token").status == TokenStatus.OK
    assert rotator.rotate("gw-token", reason="test").outcome == RotationOutcome.ROTATED


def test_the_new_secret_is_stored_even_when_redis_is_down_for_a_restart(
    rotator: Rotator, store: TokenStore, api: Api7, old_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.errors import StoreError

    real_install = store.install
    failures = iter(range(12))  # a Redis restart: many more failures than a hiccup's few

    def flaky_install(*args: object, **kwargs: object) -> object:
        if next(failures, None) is not None:
            raise StoreError("Redis error: ConnectionError")
        return real_install(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "install", flaky_install)

    result = rotator.rotate("gw-token", reason="test")

    assert result.outcome == RotationOutcome.ROTATED
    assert api.accepts(store.credential("gw-token").secret.get_secret_value())
