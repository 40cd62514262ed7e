"""Helpers of the token tests: the sandbox as API7 over a transport, sent notifications, settings and a cipher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.fernet import Fernet

from tests.support import SandboxTransport
from worker.config import ChannelConfig, Settings
from worker.tokens.keys import Cipher, parse_keys

NOW = 1_800_000_000.0
DAY = 86400.0
BASE = "http://api7.test"
BOOTSTRAP = "sandbox-bootstrap-secret-for-token-tests"


TOKENS = "/api/settings/tokens"


@dataclass
class Api7:
    """The sandbox (API7's token API, CODING's open API) mounted as a transport, the network to it in the test's hands.

    ``down`` refuses every connection; ``lose_regenerate`` lets the next regenerate reach the sandbox and act, then
    loses its answer (a read timeout). ``requests`` is what Relay sent (the sandbox's own log masks credentials);
    ``ids`` maps the names tokens were issued under to the ids the sandbox gave them.
    """

    sandbox: SandboxTransport
    ids: dict[str, str] = field(default_factory=dict)
    down: bool = False
    lose_regenerate: bool = False
    requests: list[httpx.Request] = field(default_factory=list)

    def issue(self, name: str, expires_at: int) -> str:
        """Create a token named ``name`` at the sandbox and return its secret."""
        with self.sandbox.admin() as admin:
            answer = admin.post(TOKENS, json={"name": name, "expires_at": expires_at})
        answer.raise_for_status()
        self.ids[name] = answer.json()["value"]["id"]
        secret: str = answer.json()["value"]["token"]
        return secret

    def regenerate(self, name: str, expires_at: int) -> str:
        """Regenerate token ``name`` from outside Relay (another process, an operator); its new secret."""
        with self.sandbox.admin() as admin:
            answer = admin.put(f"{TOKENS}/{self.ids[name]}/regenerate", json={"expires_at": expires_at})
        answer.raise_for_status()
        secret: str = answer.json()["value"]["token"]
        return secret

    def refuse_next_regenerate(self, status: int) -> None:
        """The sandbox answers the next regenerate with ``status`` without acting (a fault)."""
        fault = {"status": status, "method": "PUT", "path": TOKENS + "/", "count": 1}
        with self.sandbox.admin() as admin:
            admin.post("/_sandbox/faults", json=fault).raise_for_status()

    @property
    def regenerates(self) -> int:
        """Regenerates the sandbox acted on."""
        with self.sandbox.admin() as admin:
            recorded = admin.get("/_sandbox/requests", params={"method": "PUT", "effect": "true"}).json()
        return sum(1 for record in recorded if record["path"].endswith("/regenerate"))

    def accepts(self, secret: str) -> bool:
        """Whether the sandbox accepts ``secret`` now (a cheap authenticated GET, not counted in ``requests``)."""
        request = httpx.Request("GET", f"{BASE}/api/gateway_groups", headers={"X-API-KEY": secret})
        return self.sandbox.handle_request(request).status_code == 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Carry ``request`` to the sandbox, unless the network says otherwise."""
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        response = self.sandbox.handle_request(request)
        if self.lose_regenerate and request.url.path.endswith("/regenerate"):
            self.lose_regenerate = False
            raise httpx.ReadTimeout("timed out", request=request)
        return response

    @property
    def transport(self) -> httpx.MockTransport:
        """Relay's clients' transport to the sandbox."""
        return httpx.MockTransport(self.handler)


@contextmanager
def api7_sandbox(clock: Callable[[], float]) -> Iterator[Api7]:
    """The sandbox standing in for API7 and CODING on ``clock``, stopped afterwards."""
    sandbox = SandboxTransport(BOOTSTRAP, clock=clock)
    try:
        yield Api7(sandbox)
    finally:
        sandbox.stop()


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
