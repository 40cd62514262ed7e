"""Helpers of the token tests: a fake API7 token API, sent notifications, settings and a cipher."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.fernet import Fernet

from worker.config import ChannelConfig, Settings
from worker.tokens.keys import Cipher, parse_keys

NOW = 1_800_000_000.0
DAY = 86400.0
BASE = "http://api7.test"


@dataclass
class FakeApi7:
    """API7's token endpoints and one cheap GET, enough for probes and regenerate; counts every regenerate."""

    secrets: dict[str, str] = field(default_factory=dict)  # token id -> live secret
    expires: dict[str, int] = field(default_factory=dict)
    regenerates: int = 0
    lose_regenerate: bool = False  # act on the next regenerate, then time out instead of answering
    regenerate_status: int | None = None  # answer the next regenerate with this status, doing nothing
    down: bool = False  # every request fails to connect
    requests: list[httpx.Request] = field(default_factory=list)

    def issue(self, token_id: str, expires_at: int) -> str:
        """Create a token and return its secret."""
        self.secrets[token_id] = "a7ee-" + secrets.token_urlsafe(24)
        self.expires[token_id] = expires_at
        return self.secrets[token_id]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/open-api":
            return self._coding(request)
        key = request.headers.get("X-API-KEY")
        owner = next((tid for tid, secret in self.secrets.items() if secret == key), None)
        if owner is None:
            return httpx.Response(401, json={"error_msg": "invalid API key"})
        prefix = "/api/settings/tokens"
        if path.endswith("/regenerate") and request.method == "PUT":
            if self.regenerate_status is not None:
                status, self.regenerate_status = self.regenerate_status, None
                return httpx.Response(status, json={"error_msg": "no"})
            self.regenerates += 1
            token_id = path[len(prefix) + 1 : -len("/regenerate")]
            expires_at = json.loads(request.content)["expires_at"]
            secret = self.issue(token_id, expires_at)
            if self.lose_regenerate:
                self.lose_regenerate = False
                raise httpx.ReadTimeout("timed out", request=request)
            return httpx.Response(200, json={"value": self._token(token_id) | {"token": secret}})
        if path.startswith(prefix + "/") and request.method == "GET":
            token_id = path[len(prefix) + 1 :]
            if token_id not in self.secrets:
                return httpx.Response(404, json={"error_msg": "token not found"})
            return httpx.Response(200, json={"value": self._token(token_id)})
        if path == prefix and request.method == "GET":
            return httpx.Response(200, json={"total": len(self.secrets), "list": []})
        return httpx.Response(200, json={"value": {}})

    def _coding(self, request: httpx.Request) -> httpx.Response:
        # CODING answers HTTP 200 with an error envelope.
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.secrets.values():
            return httpx.Response(200, json={"Response": {"Error": {"Code": "AuthFailure", "Message": "bad token"}}})
        return httpx.Response(200, json={"Response": {"User": {"Id": 1, "Name": "relay"}, "RequestId": "r"}})

    def _token(self, token_id: str) -> dict[str, Any]:
        return {"id": token_id, "name": token_id, "expires_at": self.expires[token_id], "created_at": int(NOW)}

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


@dataclass
class Sent:
    """Notifications a fake sender received."""

    messages: list[tuple[str, str, str]] = field(default_factory=list)  # (channel url, text, key)
    failing: set[str] = field(default_factory=set)  # channel urls that fail

    def __call__(self, config: ChannelConfig, text: str, key: str) -> object:
        from worker.errors import RetryableError

        url = config.url.get_secret_value()
        if url in self.failing:
            raise RetryableError("channel down")
        self.messages.append((url, text, key))
        return 200

    def texts(self) -> list[str]:
        return [text for _, text, _ in self.messages]


def make_settings(**extra: Any) -> Settings:
    """Two targets (api7 rotatable, coding not), two channels."""
    data: dict[str, Any] = {
        "targets": {
            "gw": {"kind": "api7", "base_url": BASE, "token": "gw-token"},
            "git": {"kind": "coding", "base_url": "http://coding.test"},
        },
        "channels": {
            "ops": {"kind": "slack", "url": "http://hooks.test/ops"},
            "chat": {"kind": "webhook", "url": "http://hooks.test/chat"},
        },
    }
    for key, value in extra.items():
        data[key] = value
    return Settings(**data)


def new_cipher() -> Cipher:
    """A cipher with one fresh key."""
    return parse_keys(Fernet.generate_key().decode(), origin="RELAY_TOKEN_KEY")


# The one grammar, as an operator types a list: what `relay tokens add/edit --scopes` stores and a rule requires.
SCOPE_LISTS: list[tuple[str, list[str] | None]] = [
    ("project:depot:rw", ["project:depot:rw"]),
    ("project:depot:rw, project:issue:ro", ["project:depot:rw", "project:issue:ro"]),
    (" user:profile:ro ,,", ["user:profile:ro"]),
    ("Project:Depot:RO", ["Project:Depot:RO"]),  # kept as typed; compared without case
    ("project:public-key:rw", ["project:public-key:rw"]),
    ("team_member:list-all.v2:ro", ["team_member:list-all.v2:ro"]),
    ("", []),
    ("project:*:rw", None),  # CODING has no wildcard scope
    ("*", None),
    ("has space", None),
    ("project::ro", None),
    (":ro", None),
    ("project:", None),
    ("a:b:rw!", None),
    ("project:depot:rw,bad scope", None),
    ("projet:dépôt:rw", None),
]
