"""Backends: API7 3.2's templates and publish, the version found with GET /api/version, the group by exact name."""

from __future__ import annotations

import pytest
import redis

from tests.worker.gitops.support import EXAMPLE, FakeApi7, FakeRepo, api7_client, reconciler, spec
from worker.errors import GitOpsError
from worker.gitops.backends import open_backend
from worker.gitops.ids import sha1

V32 = EXAMPLE.replace("    strip_path_prefix: true\n", "")
SERVICE = sha1("billing")


@pytest.mark.parametrize(
    ("version", "expected"), [("3.5.4", "api7-3.5"), ("3.9.0", "api7-3.5"), ("3.2.16", "api7-3.2"), (None, "api7-3.2")]
)
def test_the_version_is_found_with_get_api_version(version: str | None, expected: str) -> None:
    assert open_backend(api7_client(FakeApi7(version=version)), "default").name == expected


def test_the_configured_version_wins_over_detection() -> None:
    assert open_backend(api7_client(FakeApi7(version="3.5.4")), "default", "3.2").name == "api7-3.2"


def test_no_group_of_that_exact_name_is_an_error() -> None:
    with pytest.raises(GitOpsError, match="no gateway group is named 'defaul'"):
        open_backend(api7_client(FakeApi7()), "defaul")


def test_api7_32_writes_templates_then_publishes_and_plans_nothing_after(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(version=None), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": V32})
    reconciler(fake, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    assert fake.writes[:3] == [
        ("PUT", f"/apisix/admin/services/{SERVICE}"),
        ("PUT", f"/apisix/admin/routes/{sha1('billing.list-invoices')}"),
        ("POST", "/api/services/publish"),
    ]
    published = fake.published[SERVICE]
    assert published["version"].startswith("relay-c1-")
    assert published["gateway_group_id"] == "gg-1"
    assert reconciler(fake, repo, fake_redis).plan(spec("c1")).plan.changes == []


def test_api7_32_unpublishes_a_pruned_service(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(version=None), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": V32})
    repo.commit("c2", {"gateway/a.yaml": "global_rules:\n  prometheus: {prefer_name: true}\n"})
    reconciler(fake, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    fake.writes.clear()
    reconciler(fake, repo, fake_redis).reconcile(spec("c2", prune=True), "s2", "e2")
    assert ("DELETE", f"/api/gateway_groups/gg-1/services/{SERVICE}") in fake.writes
    assert SERVICE not in fake.published
    # The route's template goes with its service's unpublish, not before it.
    assert not any("/routes/" in path for _, path in fake.writes)


def test_api7_32_refuses_what_it_cannot_apply_by_name(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(version=None), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    with pytest.raises(GitOpsError, match=r"API7 3\.2 cannot apply strip_path_prefix of service billing"):
        reconciler(fake, repo, fake_redis).plan(spec("c1"))
    assert fake.writes == []
