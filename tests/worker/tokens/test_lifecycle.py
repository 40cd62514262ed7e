"""report_refused: exactly the refused version is marked invalid, once, with an audit entry and an alert."""

from __future__ import annotations

import json

import httpx
import pytest

from worker.channels import Notifications
from worker.config import Settings
from worker.errors import AuthError
from worker.targets import ConfigTokens
from worker.tokens.lifecycle import report_refused
from worker.tokens.records import Origin, TokenStatus
from worker.tokens.store import TokenStore

SECRET = "gw-token-secret-value"


@pytest.fixture
def alerts() -> list[str]:
    return []


@pytest.fixture
def notifications(settings: Settings, alerts: list[str]) -> Notifications:
    def hook(request: httpx.Request) -> httpx.Response:
        alerts.append(json.loads(request.content)["text"])
        return httpx.Response(200, text="ok")

    return Notifications(settings.channels, transport=httpx.MockTransport(hook))


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (AuthError("gw: 401", status_code=401, token_version=1, refused=True), TokenStatus.INVALID),
        (AuthError("gw: 403", status_code=403, token_version=1), TokenStatus.OK),  # works, lacks a permission
        (AuthError("gw: 401", status_code=401, token_version=None, refused=True), TokenStatus.OK),  # version unknown
    ],
)
def test_only_a_refused_known_version_is_marked_invalid(
    store: TokenStore,
    settings: Settings,
    notifications: Notifications,
    alerts: list[str],
    refusal: AuthError,
    status: TokenStatus,
) -> None:
    store.add("gw-token", "gw", SECRET)

    marked = report_refused(store, settings, "gw-token", refusal, notifications=notifications)

    assert store.get("gw-token").status == status
    assert (marked is not None) == (status == TokenStatus.INVALID)
    invalid = status == TokenStatus.INVALID
    assert [entry.kind for entry in store.history("gw-token")] == (["alert", "added"] if invalid else ["added"])
    assert len(alerts) == (len(settings.channels) if invalid else 0)
    assert all("token gw-token (target gw) was refused by the admin API" in text for text in alerts)
    assert all(SECRET not in text for text in alerts)


def test_a_newer_version_installed_meanwhile_is_left_alone(store: TokenStore, settings: Settings) -> None:
    store.add("gw-token", "gw", SECRET)
    store.install("gw-token", "gw-token-new-secret", origin=Origin.CLI)

    refusal = AuthError("401", status_code=401, token_version=1, refused=True)
    assert report_refused(store, settings, "gw-token", refusal) is None
    assert store.get("gw-token").status == TokenStatus.OK


def test_tokens_from_the_configuration_are_not_tracked(settings: Settings) -> None:
    refusal = AuthError("401", status_code=401, token_version=1, refused=True)
    assert report_refused(ConfigTokens(settings), settings, "gw-token", refusal) is None
