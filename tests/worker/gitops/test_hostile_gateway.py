"""A gateway's answers are hostile input too: an endless list, an id that would leave its path, an error message
that echoes what it was sent. (The sandbox behaves; these answers come from a transport standing in front of it.)"""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.worker.gitops.support import CI_BOT_KEY, EXAMPLE, FakeRepo, Gateway, reconciler, spec
from worker.errors import GitOpsError, PermanentError
from worker.gitops.backends import open_backend
from worker.gitops.backends.base import MAX_LIST_ITEMS


class Hostile(httpx.BaseTransport):
    """The sandbox, with some answers replaced."""

    def __init__(self, replace: dict[tuple[str, str], httpx.Response]) -> None:
        self.inner = httpx.HTTPTransport()
        self.replace = replace
        self.asked = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.asked += 1
        for (method, prefix), response in self.replace.items():
            if request.method == method and request.url.path.startswith(prefix):
                if response.status_code == 400:  # echo the body sent, as a careless server might
                    return httpx.Response(400, json={"error_msg": f"invalid body: {request.content.decode()}"})
                return response
        return self.inner.handle_request(request)


def test_an_endless_list_is_cut_off(gateway: Gateway) -> None:
    page = {"total": 10**9, "list": [{"id": f"g{i}", "name": f"g{i}"} for i in range(100)]}
    gateway.transport = hostile = Hostile({("GET", "/api/gateway_groups"): httpx.Response(200, json=page)})
    with pytest.raises(GitOpsError, match=f"more than {MAX_LIST_ITEMS} items"):
        open_backend(gateway.client(), "default", "3.5")
    assert hostile.asked <= MAX_LIST_ITEMS // 100 + 2


def test_an_id_that_would_leave_its_path_is_refused(gateway: Gateway, fake_redis: redis.Redis) -> None:
    services = {"total": 1, "list": [{"id": "../../api/settings/tokens", "name": "evil"}]}
    gateway.transport = Hostile({("GET", "/apisix/admin/services"): httpx.Response(200, json=services)})
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    with pytest.raises(GitOpsError, match="invalid service id"):
        reconciler(gateway, repo, fake_redis).plan(spec("c1"))


def test_an_error_that_echoes_a_secret_is_masked(gateway: Gateway, fake_redis: redis.Redis) -> None:
    gateway.transport = Hostile({("PUT", "/apisix/admin/consumers/"): httpx.Response(400)})
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    with pytest.raises(PermanentError) as caught:
        reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s", "e")
    message = str(caught.value)
    assert "invalid body" in message
    assert CI_BOT_KEY not in message
    assert CI_BOT_KEY not in repr(fake_redis.hgetall("relay:gitops:state:gw:default"))
