"""Helpers of the GitOps integration tests: the relay.yaml of a synced gateway group, ADC files, secret hunting."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.integration.support import rule, stack_config
from tests.support import Sandbox
from worker.gitops.ids import sha1

GIT_TOKEN_ENV = "GITOPS_TEST_GIT_TOKEN"
REPO = "gateway-config"
PATHS = ["gateway/*.yaml"]


def sync_action(**extra: Any) -> dict[str, Any]:
    """A ``sync`` of the pushed commit's ``gateway/*.yaml`` onto target gw's group ``default``, with prune."""
    return {
        "sync": "gw", "repo": REPO, "revision": "{{ payload.after }}", "paths": PATHS,
        "gateway_group": "default", "prune": True, "env": {"allow": ["CI_BOT_KEY"]}, **extra,
    }  # fmt: skip


def gitops_config(sandbox: Sandbox, git_url: str, data_dir: Path, **sync: Any) -> dict[str, Any]:
    """Target gw (API7 3.5, the sandbox), target ``git`` holding the git server's token, ``repos:`` and the rule."""
    config = stack_config(
        sandbox,
        rule("gitops", sync_action(**sync), event="push"),
        target={"api7_version": "3.5", "read_timeout": 5, "connect_timeout": 2},
        repos={REPO: {"url": f"{git_url}/{REPO}.git", "token": "git", "forge": "git"}},
        data_dir=str(data_dir),
        celery={"task_time_limit": 25, "visibility_timeout": 40, "retry_backoff_max": 5},
    )
    # The repository's token lives in the token store, seeded once from the git target's token_secret.
    config["targets"]["git"] = {"kind": "bearer", "base_url": git_url, "token_secret": f"${{{GIT_TOKEN_ENV}}}"}
    return config


def push(after: str, before: str = "0" * 40) -> dict[str, Any]:
    """A GitHub push event body for ``after`` on main."""
    return {"ref": "refs/heads/main", "before": before, "after": after, "repository": {"full_name": "acme/gw"}}


def route(name: str, uri: str, methods: str = "[GET]") -> str:
    """One route of service ``billing`` in ADC's format."""
    return f"      - name: {name}\n        uris: [{uri}]\n        methods: {methods}\n"


def adc_file(*routes: str) -> str:
    """Service ``billing`` (upstream, ``routes``) and consumer ``ci-bot`` whose key is ``${CI_BOT_KEY}``."""
    return (
        "services:\n  - name: billing\n    path_prefix: /billing\n    upstream:\n      name: default\n"
        "      scheme: http\n      type: roundrobin\n      nodes: [{host: billing.internal, port: 8080, weight: 100}]\n"
        "    routes:\n" + "".join(routes) + "consumers:\n  - username: ci-bot\n"
        '    plugins: {key-auth: {key: "${CI_BOT_KEY}"}}\n'
    )


def route_id(name: str) -> str:
    """ADC's id of route ``name`` of service billing."""
    return sha1(f"billing.{name}")


def effects(sandbox: Sandbox) -> dict[str, Any]:
    """The sandbox's writes that took effect, counted per route (``"PUT /apisix/admin/..."``)."""
    answer: dict[str, Any] = httpx.get(f"{sandbox.url}/_sandbox/effects", params={"by": "route"}, timeout=5).json()
    return answer


def secret_forms(secrets: Iterable[str], users: Iterable[str] = ()) -> list[bytes]:
    """Each secret as it could leak: clear, base64 (alone and HTTP Basic with each user), URL-encoded."""
    forms: set[str] = set()
    for secret in secrets:
        forms |= {secret, base64.b64encode(secret.encode()).decode(), quote(secret, safe="")}
        forms |= {base64.b64encode(f"{user}:{secret}".encode()).decode() for user in users}
    return [form.encode() for form in forms]


def leaked(blob: bytes, forms: list[bytes]) -> list[bytes]:
    """The forms found in ``blob``."""
    return [form for form in forms if form in blob]
