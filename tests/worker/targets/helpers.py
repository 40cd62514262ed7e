"""Shared pieces of the target client tests: a client over httpx.MockTransport and a token source to mutate."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from worker.config import TargetConfig
from worker.targets import Credential, TargetClient

TOKEN = "tok-SECRET-0123456789abcdef"
NEW_TOKEN = "tok-ROTATED-fedcba9876543210"

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class MutableTokens:
    """A TokenSource whose credential a test can change, as a rotation would; counts reads."""

    secret: str = TOKEN
    version: int = 1
    reads: int = 0

    def current(self, name: str) -> Credential:
        """The credential as it is now."""
        self.reads += 1
        return Credential(SecretStr(self.secret), self.version)

    def rotate(self, secret: str = NEW_TOKEN) -> None:
        """Install a new secret and bump the version."""
        self.secret = secret
        self.version += 1


@dataclass
class Recorder:
    """A MockTransport handler that records requests and answers from a script (last answer repeats)."""

    answers: list[httpx.Response | Handler | Exception] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and give the next scripted answer."""
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1] if self.answers else httpx.Response(200)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    def json(self, index: int = -1) -> Any:
        """The JSON body of a recorded request."""
        return json.loads(self.requests[index].content)


def make_client(
    handler: Handler,
    *,
    kind: str = "api7",
    tokens: MutableTokens | None = None,
    **config: Any,
) -> TargetClient:
    """A TargetClient named ``gw`` for ``kind`` over a MockTransport calling ``handler``."""
    target = TargetConfig.model_validate({"kind": kind, "base_url": "http://admin.test", **config})
    return TargetClient("gw", target, tokens or MutableTokens(), transport=httpx.MockTransport(handler))


def value(payload: dict[str, Any], status: int = 200, **headers: str) -> httpx.Response:
    """An API7 ``{"value": ...}`` answer."""
    return httpx.Response(status, json={"value": payload}, headers=headers)


def listing(items: list[dict[str, Any]], total: int | None = None) -> httpx.Response:
    """An API7 ``{"total", "list"}`` answer."""
    return httpx.Response(200, json={"total": len(items) if total is None else total, "list": items})


def coding_answer(response: dict[str, Any], status: int = 200) -> httpx.Response:
    """A CODING ``{"Response": ...}`` answer."""
    return httpx.Response(status, json={"Response": {**response, "RequestId": "req-1"}})


def coding_failure(code: str, message: str = "it failed", status: int = 200) -> httpx.Response:
    """A CODING error envelope (HTTP 200 unless told)."""
    return coding_answer({"Error": {"Code": code, "Message": message}}, status)
