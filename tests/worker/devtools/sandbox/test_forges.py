"""The forge stand-ins: GitLab's token self-rotation (with reuse detection), GitHub's App installation tokens,
and commit statuses, as each forge documents them."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from tests.support import FakeClock, rsa_key_pair
from tests.worker.devtools.sandbox.support import START, recorded

pytestmark = pytest.mark.anyio
SHA = "b" * 40


async def gitlab_token(anon: httpx.AsyncClient, scopes: list[str] | None = None) -> dict[str, Any]:
    response = await anon.post("/_sandbox/forges/gitlab/tokens", json={"name": "relay", "scopes": scopes or ["api"]})
    assert response.status_code == 201
    created: dict[str, Any] = response.json()
    return created


async def gitlab_self(anon: httpx.AsyncClient, secret: str) -> httpx.Response:
    return await anon.get("/api/v4/personal_access_tokens/self", headers={"PRIVATE-TOKEN": secret})


async def rotate(anon: httpx.AsyncClient, secret: str, **body: Any) -> httpx.Response:
    return await anon.post("/api/v4/personal_access_tokens/self/rotate", headers={"PRIVATE-TOKEN": secret}, json=body)


async def test_gitlab_rotation_kills_the_old_secret_at_once(anon: httpx.AsyncClient) -> None:
    old = await gitlab_token(anon)
    me = await gitlab_self(anon, old["token"])
    assert me.status_code == 200
    assert me.json()["id"] == old["id"]

    rotated = await rotate(anon, old["token"])

    assert rotated.status_code == 200
    new = rotated.json()
    assert new["token"].startswith("glpat-")
    assert new["id"] != old["id"]
    assert new["expires_at"] == "2023-11-21"  # a week after START (2023-11-14)
    assert (await gitlab_self(anon, old["token"])).status_code == 401
    assert (await gitlab_self(anon, new["token"])).json()["active"] is True


async def test_rotating_an_already_rotated_token_revokes_the_whole_family(anon: httpx.AsyncClient) -> None:
    old = await gitlab_token(anon)
    new = (await rotate(anon, old["token"])).json()

    again = await rotate(anon, old["token"])  # a blind retry after a lost answer

    assert again.status_code == 401
    assert (await gitlab_self(anon, new["token"])).status_code == 401  # gitlab-org/gitlab#524639


async def test_rotation_needs_the_api_or_self_rotate_scope(anon: httpx.AsyncClient) -> None:
    reader = await gitlab_token(anon, ["read_api"])
    assert (await rotate(anon, reader["token"])).status_code == 403
    rotator = await gitlab_token(anon, ["read_api", "self_rotate"])
    assert (await rotate(anon, rotator["token"], expires_at="2024-01-01")).json()["expires_at"] == "2024-01-01"


@pytest.mark.parametrize("expires_at", ["2023-11-14", "2030-01-01", "tomorrow", 5])
async def test_rotation_refuses_an_expiry_gitlab_refuses(anon: httpx.AsyncClient, expires_at: Any) -> None:
    token = await gitlab_token(anon)
    assert (await rotate(anon, token["token"], expires_at=expires_at)).status_code == 400
    assert (await gitlab_self(anon, token["token"])).status_code == 200  # nothing happened


async def test_a_gitlab_token_dies_on_its_expiry_date(anon: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await gitlab_token(anon)
    clock.advance(31 * 86400)
    assert (await gitlab_self(anon, token["token"])).status_code == 401


async def test_gitlab_secrets_are_never_recorded(anon: httpx.AsyncClient) -> None:
    token = await gitlab_token(anon)
    await rotate(anon, token["token"])
    assert token["token"] not in str(await recorded(anon))


def app_jwt(private: str, *, app_id: str = "4242", iat: float = START - 60, lifetime: float = 600) -> str:
    return jwt.encode({"iss": app_id, "iat": int(iat), "exp": int(iat + lifetime)}, private, algorithm="RS256")


async def test_an_installation_token_is_minted_for_a_valid_app_jwt(anon: httpx.AsyncClient) -> None:
    private, public = rsa_key_pair()
    await anon.post("/_sandbox/forges/github/apps", json={"app_id": 4242, "public_key": public, "installations": [7]})

    minted = await anon.post(
        "/app/installations/7/access_tokens", headers={"Authorization": f"Bearer {app_jwt(private)}"}
    )

    assert minted.status_code == 201
    answer = minted.json()
    assert answer["token"].startswith("ghs_")
    assert answer["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + 3600))
    status = await anon.post(
        f"/repos/acme/pay/statuses/{SHA}",
        headers={"Authorization": f"Bearer {answer['token']}"},
        json={"state": "success", "context": "relay"},
    )
    assert status.status_code == 201


@pytest.mark.parametrize(
    "problem", ["other key", "unknown app", "too long", "expired", "unknown installation", "no jwt"]
)
async def test_bad_app_jwts_are_refused(anon: httpx.AsyncClient, problem: str) -> None:
    private, public = rsa_key_pair()
    other, _ = rsa_key_pair()
    await anon.post("/_sandbox/forges/github/apps", json={"app_id": 4242, "public_key": public, "installations": [7]})
    token = {
        "other key": app_jwt(other),
        "unknown app": app_jwt(private, app_id="1"),
        "too long": app_jwt(private, lifetime=3600),
        "expired": app_jwt(private, iat=START - 2000),
        "unknown installation": app_jwt(private),
        "no jwt": "",
    }[problem]
    path = (
        "/app/installations/8/access_tokens"
        if problem == "unknown installation"
        else "/app/installations/7/access_tokens"
    )
    response = await anon.post(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == (404 if problem == "unknown installation" else 401)


async def test_an_installation_token_expires_after_an_hour(anon: httpx.AsyncClient, clock: FakeClock) -> None:
    private, public = rsa_key_pair()
    await anon.post("/_sandbox/forges/github/apps", json={"app_id": 4242, "public_key": public, "installations": [7]})
    minted = await anon.post(
        "/app/installations/7/access_tokens", headers={"Authorization": f"Bearer {app_jwt(private)}"}
    )
    clock.advance(3601)
    status = await anon.post(
        f"/repos/acme/pay/statuses/{SHA}",
        headers={"Authorization": f"token {minted.json()['token']}"},
        json={"state": "success"},
    )
    assert status.status_code == 401


@pytest.mark.parametrize(
    ("path", "auth", "body", "status"),
    [
        (f"/repos/a/b/statuses/{SHA}", "github", {"state": "done"}, 422),
        (f"/repos/a/b/statuses/{SHA}", "github", {"state": "success", "description": "x" * 141}, 422),
        ("/repos/a/b/statuses/main", "github", {"state": "success"}, 422),
        (f"/api/v4/projects/a%2Fb/statuses/{SHA}", "gitlab", {"state": "failure"}, 400),
        (f"/api/v4/projects/a%2Fb/statuses/{SHA}", "gitlab", {"state": "failed"}, 201),
        (f"/api/v1/repos/a/b/statuses/{SHA}", "gitea", {"state": "warning"}, 201),
        (f"/api/v1/repos/a/b/statuses/{SHA}", "gitea", {"state": "failed"}, 422),
        (f"/api/v1/repos/a/b/statuses/{SHA}", "github", {"state": "success"}, 401),
    ],
)
async def test_statuses_follow_each_forges_rules(
    anon: httpx.AsyncClient, path: str, auth: str, body: dict[str, Any], status: int
) -> None:
    if auth == "gitlab":
        headers = {"PRIVATE-TOKEN": (await gitlab_token(anon))["token"]}
    else:
        secret = (await anon.post("/_sandbox/forges/tokens", json={"forge": auth})).json()["token"]
        headers = {"Authorization": f"token {secret}"}
    assert (await anon.post(path, headers=headers, json=body)).status_code == status
