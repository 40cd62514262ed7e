"""Helpers of the GitOps tests: the sandbox's API7 (over real HTTP) seen as a gateway group, a fake repository,
transports that stand in for a worker killed mid-apply, and PEM material.
"""

from __future__ import annotations

import datetime
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import cache
from typing import Any

import httpx
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from tests.support import Sandbox
from worker.config import Settings, TargetConfig
from worker.gitops.envvars import policy
from worker.gitops.reconcile import Reconciler, SyncSpec
from worker.gitops.source import CommitFiles
from worker.runtime import Runtime
from worker.targets import ConfigTokens, TargetClient
from worker.targets.tokens import Credential

WRITES = ("PUT", "POST", "DELETE")


class Crash(BaseException):
    """Stands in for a worker killed mid-apply (not an Exception: nothing catches it on the way up)."""


class CrashAfterWrite(httpx.BaseTransport):
    """Real HTTP, but the worker "dies" once the Nth write has been answered, before it records anything."""

    def __init__(self, after: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.after = after
        self.writes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method in WRITES:
            self.writes += 1
            if self.writes == self.after:
                response.read()
                raise Crash(f"worker killed after write {self.writes}")
        return response


class InFlight(httpx.BaseTransport):
    """Real HTTP that holds each write until ``bound`` are in flight (or all ``total`` started), counting the most."""

    def __init__(self, bound: int, total: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.bound, self.total = bound, total
        self.now = self.most = self.started = 0
        self.changed = threading.Condition()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in WRITES:
            return self.inner.handle_request(request)
        with self.changed:
            self.now += 1
            self.started += 1
            self.most = max(self.most, self.now)
            self.changed.notify_all()
            # A pool wider than the bound would show more at once while these wait.
            self.changed.wait_for(lambda: self.now >= self.bound or self.started >= self.total, timeout=10)
        try:
            return self.inner.handle_request(request)
        finally:
            with self.changed:
                self.now -= 1
                self.changed.notify_all()


@dataclass
class Gateway:
    """A sandbox's gateway group as the tests read it."""

    sandbox: Sandbox
    transport: httpx.BaseTransport | None = None

    def client(self) -> TargetClient:
        """A TargetClient for the sandbox, with the test's transport."""
        config = TargetConfig(kind="api7", base_url=self.sandbox.url)
        return TargetClient("gw", config, _Tokens(self.sandbox.token), transport=self.transport)

    def writes(self, *, effect: bool | None = True) -> list[tuple[str, str]]:
        """The writes the sandbox received (that took effect, by default), oldest first."""
        return [
            (r["method"], r["path"])
            for r in self.sandbox.requests()
            if r["method"] in WRITES
            and not r["path"].startswith("/_sandbox")
            and (effect is None or r["effect"] is effect)
        ]

    def effective(self) -> Counter[str]:
        """How many times each path was written with effect."""
        return Counter(f"{method} {path}" for method, path in self.writes())

    def resources(self, group: str = "default") -> dict[str, Any]:
        """The group's resources by kind and id (write-only values as digests)."""
        resources: dict[str, Any] = self.sandbox.group_state(group)["resources"]
        return resources

    def admin(self, method: str, path: str, body: Any = None) -> None:
        """A change made by hand through the admin API."""
        headers = {"X-API-KEY": self.sandbox.token}
        params = {"gateway_group_id": "default"}
        httpx.request(
            method, self.sandbox.url + path, json=body, headers=headers, params=params, timeout=5
        ).raise_for_status()


class _Tokens:
    def __init__(self, token: str) -> None:
        self.token = token

    def current(self, name: str) -> Credential:
        return Credential(SecretStr(self.token))


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


def reconciler(gateway: Gateway, repo: FakeRepo, client: redis.Redis, **extra: Any) -> Reconciler:
    """A Reconciler over the sandbox and the fake repository, with CI_BOT_KEY in its environment."""
    return Reconciler(client, gateway.client(), repo, {"CI_BOT_KEY": CI_BOT_KEY}, **extra)


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
    builder = x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number()).not_valid_before(now)
    cert = builder.not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def ssl_file(cert: str, key: str) -> str:
    """An ADC file with one SSL for a.example.com (block scalars keep the PEM's lines)."""
    return (
        "ssls:\n  - snis: [a.example.com]\n    certificates:\n"
        f"      - certificate: |\n{indent_block(cert)}\n        key: |\n{indent_block(key)}\n"
    )


def indent_block(text: str) -> str:
    """``text`` indented to sit in a YAML block scalar under a certificate's key."""
    return "\n".join("          " + line for line in text.strip().splitlines())


def sync_runtime(
    client: redis.Redis, gateway: Gateway, repo: FakeRepo, rules: list[dict[str, Any]], **extra: Any
) -> Runtime:
    """A worker's runtime whose target ``gw`` is the sandbox and whose repositories are ``repo``."""
    target = {"kind": "api7", "base_url": gateway.sandbox.url, "token_secret": gateway.sandbox.token}
    # The repository the sync actions name (read through ``repo`` here, not this URL).
    repos = {"gateway-config": {"url": "https://git.example.com/acme/gateway-config.git", "token": "gw"}}
    repos = extra.pop("repos", repos)
    targets = {"gw": target, **extra.pop("targets_extra", {})}
    settings = Settings(targets=targets, rules=rules, repos=repos, **extra)
    runtime = Runtime(settings, client, ConfigTokens(settings), transport=gateway.transport)
    runtime.commits = repo
    return runtime
