"""The check over fakeredis and a fake admin API: warnings once, alerts daily, the gauge, rotation when due."""

from __future__ import annotations

import math
import threading

import pytest
import redis

from tests.support import FakeClock
from tests.worker.tokens.support import DAY, NOW, Api7, Sent, make_settings
from worker.config import Settings
from worker.tokens.checker import TokenChecker
from worker.tokens.metrics import TOKEN_EXPIRY, refresh_expiry_gauge
from worker.tokens.records import Origin, TokenStatus
from worker.tokens.store import TokenStore


def checker_for(
    store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock, *, dry_run: bool = False
) -> TokenChecker:
    return TokenChecker(
        store, settings, transport=api.transport, send=sent, dry_run=dry_run, settle_seconds=0, clock=clock,
        sleep=lambda seconds: None,
    )  # fmt: skip


def add_coding_token(store: TokenStore, api: Api7, expires_in: float) -> None:
    """A CODING token (warnings only: CODING cannot rotate through its API)."""
    secret = api.issue("coding-1", int(NOW + expires_in))
    store.add("git", "git", secret, expires_at=int(NOW + expires_in))


def warnings(sent: Sent) -> list[str]:
    return [text for text in sent.texts() if "expires in" in text]


def expire_daily_markers(client: redis.Redis) -> None:
    """What a day does to the markers: those with a TTL of a day or less are gone."""
    for key in client.scan_iter("relay:token:*:sent:*"):
        if 0 < client.ttl(key) <= DAY:
            client.delete(key)


def test_each_threshold_is_sent_once_across_repeated_runs(
    store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    add_coding_token(store, api, 65 * DAY)
    checker = checker_for(store, settings, api, sent, clock)

    seen: list[int] = []
    for days_left in (65, 60, 59, 45, 30, 29.5, 8, 7, 6, 1, 0.5):
        clock.now = NOW + 65 * DAY - days_left * DAY
        for _ in range(3):
            checker.check("git")
        seen.append(len(sent.messages))

    # two channels each: 60 at 60 days, 30 at 30, 7 at 7, 1 at 1
    assert seen == [0, 2, 2, 2, 4, 4, 4, 6, 6, 8, 8]
    texts = warnings(sent)
    assert sorted({text.split(" expires in ")[1].split(" days")[0] for text in texts}, key=float) == [
        "1.0", "7.0", "30.0", "60.0",
    ]  # fmt: skip
    assert [url for url, _, _ in sent.messages].count("http://hooks.test/ops") == 4
    assert [entry.kind for entry in store.history("git")].count("warning") == 4


def test_two_beats_send_each_warning_once(
    fake_redis: redis.Redis, store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    add_coding_token(store, api, 29 * DAY)
    other_process = TokenStore(fake_redis, store.cipher, clock=clock)
    beats = [checker_for(store, settings, api, sent, clock), checker_for(other_process, settings, api, sent, clock)]

    threads = [threading.Thread(target=beat.check_all) for beat in beats * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 30 and 60 both reached at the first check: one warning (the nearer), to each channel, once
    assert len(sent.messages) == 2
    assert len({key for _, _, key in sent.messages}) == 2
    assert "29.0 days" in sent.messages[0][1]
    clock.advance(23 * DAY)
    for beat in beats * 2:
        beat.check_all()
    assert len(sent.messages) == 4


def test_a_failed_channel_is_retried_and_the_others_are_not_repeated(
    store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    add_coding_token(store, api, 6 * DAY)
    checker = checker_for(store, settings, api, sent, clock)
    sent.failing.add("http://hooks.test/ops")
    checker.check("git")
    assert [url for url, _, _ in sent.messages] == ["http://hooks.test/chat"]

    sent.failing.clear()
    checker.check("git")
    checker.check("git")
    assert [url for url, _, _ in sent.messages] == ["http://hooks.test/chat", "http://hooks.test/ops"]


def test_only_the_configured_token_channels_are_used(
    store: TokenStore, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    settings = make_settings(tokens={"channels": ["ops"]})
    add_coding_token(store, api, 6 * DAY)
    checker_for(store, settings, api, sent, clock).check("git")
    assert [url for url, _, _ in sent.messages] == ["http://hooks.test/ops"]


def test_an_expired_token_alerts_daily_until_fixed(
    fake_redis: redis.Redis, store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    add_coding_token(store, api, 2 * DAY)
    checker = checker_for(store, settings, api, sent, clock)
    clock.advance(3 * DAY)

    report = checker.check("git")
    checker.check("git")
    assert report.status == TokenStatus.EXPIRED
    alerts = [text for text in sent.texts() if "expired on" in text]
    assert len(alerts) == 2  # one per channel
    assert "relay tokens set git" in alerts[0]

    expire_daily_markers(fake_redis)
    checker.check("git")
    assert len([text for text in sent.texts() if "expired on" in text]) == 4

    fresh = api.issue("coding-2", int(clock.now + 90 * DAY))
    store.install("git", fresh, origin=Origin.CLI, expires_at=int(clock.now + 90 * DAY))
    expire_daily_markers(fake_redis)
    assert checker.check("git").status == TokenStatus.OK
    assert len([text for text in sent.texts() if "expired on" in text]) == 4


def test_a_refused_secret_is_invalid_with_one_alert_then_recovers(
    store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    store.add("git", "git", "a7ee-never-issued", expires_at=int(NOW + 200 * DAY))
    checker = checker_for(store, settings, api, sent, clock)

    report = checker.check("git")
    checker.check("git")
    assert report.status == TokenStatus.INVALID
    assert store.get("git").status == TokenStatus.INVALID
    alerts = [text for text in sent.texts() if "no longer valid" in text]
    assert len(alerts) == 2
    assert "a7ee-never-issued" not in "".join(sent.texts())

    store.install("git", api.issue("coding-3", int(NOW + 200 * DAY)), origin=Origin.CLI)
    assert checker.check("git").status == TokenStatus.OK


def test_check_reads_the_expiry_from_api7_and_sets_the_gauge(
    store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    secret = api.issue("tok-1", int(NOW + 80 * DAY))
    store.add("gw-token", "gw", secret, token_id=api.ids["tok-1"])
    report = checker_for(store, settings, api, sent, clock).check("gw-token")

    assert store.get("gw-token").expires_at == int(NOW + 80 * DAY)
    assert any("expiry from the admin API" in action for action in report.actions)
    assert TOKEN_EXPIRY.labels("gw-token", "gw")._value.get() == pytest.approx(80 * DAY)

    store.update("gw-token", expires_at=0)
    refresh_expiry_gauge(store, clock.now)
    assert math.isinf(TOKEN_EXPIRY.labels("gw-token", "gw")._value.get())
    store.remove("gw-token")
    refresh_expiry_gauge(store, clock.now)
    assert ("gw-token", "gw") not in {
        (sample.labels["token"], sample.labels["target"])
        for metric in TOKEN_EXPIRY.collect()
        for sample in metric.samples
    }


def test_check_rotates_an_api7_token_when_due_and_sends_no_expiry_warning(
    store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    secret = api.issue("tok-1", int(NOW + 5 * DAY))
    store.add("gw-token", "gw", secret, token_id=api.ids["tok-1"], expires_at=int(NOW + 5 * DAY))
    clock.advance(4 * DAY)  # one day left of five: due (below a third of the lifetime)

    report = checker_for(store, settings, api, sent, clock).check("gw-token")

    assert report.status == TokenStatus.OK
    assert report.version == 2
    assert any(action.startswith("rotation rotated") for action in report.actions)
    assert api.regenerates == 1
    assert warnings(sent) == []
    assert any("rotated to version 2" in text for text in sent.texts())


def test_a_rotatable_token_is_not_warned_about_before_its_rotation_is_due(
    store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    secret = api.issue("tok-1", int(NOW + 30 * DAY))
    store.add("gw-token", "gw", secret, token_id=api.ids["tok-1"], expires_at=int(NOW + 30 * DAY))
    report = checker_for(store, settings, api, sent, clock).check("gw-token")
    assert (report.status, sent.messages, api.regenerates) == (TokenStatus.OK, [], 0)


def test_dry_run_changes_and_sends_nothing(
    fake_redis: redis.Redis, store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    secret = api.issue("tok-1", int(NOW + 5 * DAY))
    store.add("gw-token", "gw", secret, token_id=api.ids["tok-1"], expires_at=int(NOW + 5 * DAY))
    add_coding_token(store, api, 10 * DAY)
    clock.advance(4 * DAY)
    before = {key: fake_redis.dump(key) for key in fake_redis.scan_iter()}

    reports = {r.name: r for r in checker_for(store, settings, api, sent, clock, dry_run=True).check_all()}

    assert any(action.startswith("would rotate") for action in reports["gw-token"].actions)
    assert "would send the 7-day warning" in reports["git"].actions
    assert sent.messages == []
    assert api.regenerates == 0
    assert {key: fake_redis.dump(key) for key in fake_redis.scan_iter()} == before


def test_an_unreachable_admin_api_is_reported_not_fatal(
    store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    add_coding_token(store, api, 100 * DAY)
    api.down = True
    report = checker_for(store, settings, api, sent, clock).check("git")
    assert report.status == TokenStatus.OK
    assert any("not confirmed" in action for action in report.actions)


def test_one_broken_token_does_not_stop_the_others(
    fake_redis: redis.Redis, store: TokenStore, settings: Settings, api: Api7, sent: Sent, clock: FakeClock
) -> None:
    add_coding_token(store, api, 100 * DAY)
    store.add("broken", "git", "a7ee-x")
    fake_redis.hset("relay:token:broken", "secret", b"not-fernet")
    reports = {r.name: r for r in checker_for(store, settings, api, sent, clock).check_all()}
    assert reports["broken"].error is not None
    assert "cannot be decrypted" in reports["broken"].error
    assert reports["git"].error is None
