"""Write-only values (SSL keys, credential secrets) are stored but never answered, recorded or shown in clear."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.worker.devtools.sandbox.support import CERT, GG, KEY, group_state, put_ok
from worker.devtools.sandbox.runtime_kinds import KINDS, digest

pytestmark = pytest.mark.anyio

A = "/apisix/admin"
SECRET = "consumer-key-do-not-leak"
SECOND_KEY = KEY.replace("K", "Q")
CREDENTIALS = [
    {"key-auth": {"key": SECRET}},
    {"basic-auth": {"username": "ci", "password": SECRET}},
    {"jwt-auth": {"key": "ci", "secret": SECRET}},
    {"hmac-auth": {"key_id": "ci", "secret_key": SECRET}},
]


async def _everything(rt: httpx.AsyncClient) -> str:
    """Every answer a client can read, plus what the sandbox recorded, as one text."""
    parts = [
        (await rt.get(f"{A}/ssls", params=GG)).text,
        (await rt.get(f"{A}/ssls/api", params=GG)).text,
        (await rt.get(f"{A}/consumers", params=GG)).text,
        (await rt.get(f"{A}/consumers/ci-bot", params=GG)).text,
        (await rt.get(f"{A}/consumers/ci-bot/credentials", params=GG)).text,
        (await rt.get(f"{A}/consumers/ci-bot/credentials/c1", params=GG)).text,
        json.dumps(await group_state(rt)),
        (await rt.get("/_sandbox/requests")).text,
    ]
    return "\n".join(parts)


async def test_ssl_keys_are_never_answered(rt: httpx.AsyncClient) -> None:
    body = {"cert": CERT, "key": KEY, "certs": [CERT], "keys": [SECOND_KEY], "snis": ["api.example.com"]}
    answered = await put_ok(rt, f"{A}/ssls/api", body)
    assert "key" not in answered
    assert "keys" not in answered
    assert answered["cert"] == CERT
    assert answered["certs"] == [CERT]
    text = await _everything(rt)
    assert "KKKK" not in text
    assert "QQQQ" not in text


@pytest.mark.parametrize("plugins", CREDENTIALS, ids=[next(iter(p)) for p in CREDENTIALS])
async def test_credential_secrets_are_never_answered(rt: httpx.AsyncClient, plugins: dict[str, dict[str, str]]) -> None:
    await put_ok(rt, f"{A}/consumers/ci-bot", {"username": "ci-bot", "plugins": plugins})
    answered = await put_ok(rt, f"{A}/consumers/ci-bot/credentials/c1", {"name": "main", "plugins": plugins})
    assert set(answered["plugins"]) == set(plugins)
    assert SECRET not in await _everything(rt)


async def test_the_control_api_shows_a_digest_that_changes_with_the_key(rt: httpx.AsyncClient) -> None:
    body = {"cert": CERT, "key": KEY, "snis": ["api.example.com"]}
    await put_ok(rt, f"{A}/ssls/api", body)
    first = (await group_state(rt))["resources"]["ssls"]["api"]["key"]
    assert first == digest(KEY)
    assert first.startswith("sha256:")
    await put_ok(rt, f"{A}/ssls/api", {**body, "key": SECOND_KEY})
    assert (await group_state(rt))["resources"]["ssls"]["api"]["key"] == digest(SECOND_KEY) != first


def test_public_leaves_the_stored_config_whole() -> None:
    stored = {"plugins": {"key-auth": {"key": SECRET}}}
    assert KINDS["consumers"].public(stored) == {"plugins": {"key-auth": {}}}
    assert stored == {"plugins": {"key-auth": {"key": SECRET}}}
