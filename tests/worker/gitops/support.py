"""Helpers of the GitOps tests: a small fake API7 (3.5+, with 3.2's service publishing) behind httpx.MockTransport,
and a fake repository. The fake adds server fields and server defaults as API7 does, pages every list, requires
``gateway_group_id`` on runtime resources, never answers SSL keys, and records every write.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import cache
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from worker.config import TargetConfig
from worker.gitops.envvars import policy
from worker.gitops.reconcile import Reconciler, SyncSpec
from worker.gitops.source import CommitFiles
from worker.targets import ConfigTokens, TargetClient
from worker.targets.tokens import Credential

TOKEN = "gitops-system-token-value"
GROUPS = [{"id": "gg-other", "name": "default-2"}, {"id": "gg-1", "name": "default"}]
_RUNTIME = re.compile(
    r"^/apisix/admin/(services|routes|stream_routes|consumers|ssls|global_rules|plugin_metadata)(?:/(.*))?$"
)


class Crash(BaseException):
    """Stands in for a worker killed mid-apply (not an Exception: nothing catches it on the way up)."""


@dataclass
class FakeApi7:
    """API7's admin API, reduced to what a reconcile touches."""

    version: str | None = "3.5.4"
    token: str = TOKEN
    page_cap: int = 2  # the server answers at most this many items a page, whatever page_size asks
    store: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> stored object
    writes: list[tuple[str, str]] = field(default_factory=list)
    published: dict[str, dict[str, Any]] = field(default_factory=dict)  # 3.2: service id -> published config
    fail_write: dict[int, int] = field(default_factory=dict)  # write number (from 1) -> HTTP status to answer
    crash_after_write: int | None = None  # the Nth write takes effect, then the "worker dies" before the answer
    clock: int = 1000

    def handler(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport handler."""
        if request.headers.get("X-API-KEY") != self.token:
            return httpx.Response(401, json={"error_msg": "invalid token"})
        path, method = request.url.path, request.method
        if method in ("PUT", "POST", "DELETE"):
            return self._write(request)
        if path == "/api/version":
            return httpx.Response(200, json={"value": self.version}) if self.version else _error(404, "not found")
        if path == "/api/gateway_groups":
            return self._page(request, GROUPS)
        if path.startswith("/api/gateway_groups/gg-1/services"):
            return self._page(request, list(self.published.values()))
        return self._read(request)

    def _read(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.version and "gateway_group_id" not in request.url.params:
            return _error(400, "gateway_group_id is required")
        if path in self.store:
            return httpx.Response(200, json={"value": self._shown(self.store[path])})
        prefix = path.rstrip("/") + "/"
        items = [
            self._shown(obj)
            for key, obj in sorted(self.store.items())
            if key.startswith(prefix) and "/" not in key[len(prefix) :]
        ]
        service_id = request.url.params.get("service_id")
        if service_id is not None:
            items = [item for item in items if item.get("service_id") == service_id]
        if not items and not _is_collection(path):
            return _error(404, f"{path} not found")
        return self._page(request, items)

    def _shown(self, obj: dict[str, Any]) -> dict[str, Any]:
        shown = copy.deepcopy(obj)
        if "snis" in shown:  # API7 never answers an SSL's private keys
            shown.pop("key", None)
            shown.pop("keys", None)
        return shown

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        size = min(int(request.url.params.get("page_size", "10")), self.page_cap)
        chunk = items[(page - 1) * size : page * size]
        return httpx.Response(200, json={"total": len(items), "list": chunk})

    def _write(self, request: httpx.Request) -> httpx.Response:
        number = len(self.writes) + 1
        if number in self.fail_write:
            self.writes.append((request.method + "!", request.url.path))
            return _error(self.fail_write[number], "injected failure")
        self.writes.append((request.method, request.url.path))
        response = self._apply(request)
        if self.crash_after_write == number:
            raise Crash(f"worker killed after write {number}")
        return response

    def _apply(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.version and path.startswith("/apisix/") and "gateway_group_id" not in request.url.params:
            return _error(400, "gateway_group_id is required")
        if request.method == "DELETE":
            if path.startswith("/api/gateway_groups/gg-1/services/"):
                return httpx.Response(200, json={"value": self.published.pop(path.rsplit("/", 1)[1])})
            if path not in self.store:
                return _error(404, f"{path} not found")
            return httpx.Response(200, json={"value": self.store.pop(path)})
        body = json.loads(request.content)
        if path == "/api/services/publish":
            return self._publish(body)
        self.clock += 1
        stored = _with_defaults(path, body)
        stored.update(
            {
                "id": path.rsplit("/", 1)[1],
                "created_at": self.store.get(path, {}).get("created_at", self.clock),
                "updated_at": self.clock,
            }
        )
        self.store[path] = stored
        return httpx.Response(200, json={"value": self._shown(stored)})

    def _publish(self, body: dict[str, Any]) -> httpx.Response:
        for item in body["services"]:
            self.published[item["service_id"]] = {
                **item,
                "id": item["service_id"],
                "gateway_group_id": body["gateway_group_id"],
            }
        return httpx.Response(200, json={"value": {"services": body["services"]}})

    def put(self, path: str, body: dict[str, Any]) -> None:
        """A resource made by hand (or by ADC), straight into the store."""
        self.store[path] = {
            **_with_defaults(path, body),
            "id": path.rsplit("/", 1)[1],
            "created_at": 1,
            "updated_at": 1,
        }

    def paths(self) -> set[str]:
        """Every stored resource's path."""
        return set(self.store)


def _is_collection(path: str) -> bool:
    return bool(
        re.fullmatch(
            r"/apisix/admin/(services|routes|stream_routes|consumers|ssls|global_rules)|/apisix/admin/(services|consumers)/[^/]+/(upstreams|credentials)",
            path,
        )
    )


def _with_defaults(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """What API7 stores: the body with its defaults filled in (and plugin defaults, as adc#21 describes)."""
    stored = copy.deepcopy(body)
    if "/routes/" in path:
        stored.setdefault("priority", 0)
        stored.setdefault("enable_websocket", False)
    upstream = (
        stored.get("upstream")
        if "/services/" in path and "/upstreams/" not in path
        else stored
        if "/upstreams/" in path
        else None
    )
    if isinstance(upstream, dict):
        upstream.setdefault("pass_host", "pass")
        upstream.setdefault("scheme", "http")
        upstream.setdefault("type", "roundrobin")
        for node in upstream.get("nodes") or []:
            node.setdefault("priority", 0)
    for config in (stored.get("plugins") or {}).values():
        if isinstance(config, dict):
            config.setdefault("_meta", {"disable": False})
    return stored


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error_msg": message})


@dataclass
class FakeRepo:
    """A repository: commits in order (the first is the oldest), each a dict of path -> text."""

    commits: dict[str, dict[str, str]] = field(default_factory=dict)
    reads: int = 0

    def commit(self, sha: str, files: dict[str, str]) -> str:
        """Add a commit after the others."""
        self.commits[sha] = files
        return sha

    def read_files(self, repo: str, revision: str, patterns: Sequence[str]) -> CommitFiles:
        """The commit's files matching the patterns."""
        self.reads += 1
        files = self.commits[revision]
        return CommitFiles(
            revision, {p: t.encode() for p, t in files.items() if any(fnmatch(p, pat) for pat in patterns)}
        )

    def is_ancestor(self, repo: str, older: str, newer: str) -> bool:
        """By commit order."""
        order = list(self.commits)
        if older not in order or newer not in order:
            return False
        return order.index(older) <= order.index(newer)


def api7_client(fake: FakeApi7, *, name: str = "gw") -> TargetClient:
    """A TargetClient for the fake."""
    config = TargetConfig(kind="api7", base_url="http://gw.test", token_secret=SecretStr(TOKEN))
    tokens = _Tokens()
    return TargetClient(name, config, tokens, transport=httpx.MockTransport(fake.handler))


class _Tokens:
    def current(self, name: str) -> Credential:
        return Credential(SecretStr(TOKEN))


__all__ = ["ConfigTokens", "Crash", "FakeApi7", "FakeRepo", "api7_client"]

EXAMPLE = """\
services:
  - name: billing
    labels: {team: payments}
    hosts: [api.example.com]
    path_prefix: /billing
    strip_path_prefix: true
    upstream:
      name: default
      scheme: http
      type: roundrobin
      nodes: [{host: billing.internal, port: 8080, weight: 100}]
    routes:
      - name: list-invoices
        uris: [/invoices]
        methods: [GET]
        plugins: {key-auth: {}}
consumers:
  - username: ci-bot
    plugins: {key-auth: {key: "${CI_BOT_KEY}"}}
global_rules:
  prometheus: {prefer_name: true}
"""


def reconciler(fake: FakeApi7, repo: FakeRepo, client: Any, **extra: Any) -> Reconciler:
    """A Reconciler over the fake API7 and the fake repository, with CI_BOT_KEY in its environment."""
    return Reconciler(client, api7_client(fake), repo, {"CI_BOT_KEY": CI_BOT_KEY}, **extra)


def spec(revision: str, **extra: Any) -> SyncSpec:
    """A sync of ``gateway/*.yaml`` onto target gw's group ``default``."""
    fields: dict[str, Any] = {
        "target": "gw", "group": "default", "repo": "gateway-config", "revision": revision,
        "paths": ("gateway/*.yaml",), "env": policy(["CI_BOT_KEY"], []),
    }  # fmt: skip
    fields.update(extra)
    return SyncSpec(**fields)


CI_BOT_KEY = "ci-bot-key-0123456789abcdef"


@cache
def pem_pair(name: str = "a.example.com") -> tuple[str, str]:
    """A self-signed certificate and its private key, PEM (the sandbox checks they look like PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def ssl_file(cert: str, key: str) -> str:
    """An ADC file with one SSL for a.example.com (block scalars keep the PEM's lines)."""
    indent = lambda text: "\n".join("          " + line for line in text.strip().splitlines())  # noqa: E731
    return (
        "ssls:\n  - snis: [a.example.com]\n    certificates:\n"
        f"      - certificate: |\n{indent(cert)}\n        key: |\n{indent(key)}\n"
    )
