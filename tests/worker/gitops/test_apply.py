"""Applying: order, a failed write that stops the run and a rerun that resumes, a worker killed mid-apply, and a
bounded number of writes in flight."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest
import redis

from tests.worker.gitops.support import EXAMPLE, Crash, FakeApi7, FakeRepo, reconciler, spec
from worker.errors import PermanentError, RetryableError
from worker.gitops.ids import sha1

MANY = (
    "services:\n"
    + "".join(
        f"  - name: s{i}\n    upstream: {{nodes: [{{host: h, port: 80, weight: 1}}]}}\n"
        f"    routes: [{{name: r, uris: [/r{i}]}}]\n"
        for i in range(3)
    )
    + "global_rules:\n  prometheus: {}\n  cors: {}\n"
)


def _puts(fake: FakeApi7) -> Counter[str]:
    return Counter(path for method, path in fake.writes if method == "PUT")


def test_parents_first_deletes_last_and_child_first(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": MANY})
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE})
    reconciler(fake, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    kinds = [path.split("/")[3] for _, path in fake.writes]
    assert kinds == ["services"] * 3 + ["routes"] * 3 + ["global_rules"] * 2
    fake.writes.clear()
    planned = reconciler(fake, repo, fake_redis).plan(spec("c2", prune=True))
    # Each global rule is a phase of its own (API7 may keep them in one document).
    assert [len(phase) for phase in planned.phases][-1] == 1
    reconciler(fake, repo, fake_redis).reconcile(spec("c2", prune=True), "s2", "e2")
    ops = [(method, path.split("/")[3]) for method, path in fake.writes]
    first_delete = next(i for i, (method, _) in enumerate(ops) if method == "DELETE")
    assert all(method == "PUT" for method, _ in ops[:first_delete])
    deletes = [kind for method, kind in ops if method == "DELETE"]
    assert deletes.index("routes") < deletes.index("services")


def test_a_failed_write_stops_the_run_and_a_rerun_resumes_without_resending(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(fail_write={3: 503}), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": MANY})
    with pytest.raises(RetryableError) as caught:
        reconciler(
            fake,
            repo,
            fake_redis,
        ).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    message = str(caught.value)
    assert "failed" in message
    assert "applied 2 write(s)" in message
    assert "not applied:" in message
    assert "routes" in message  # a later phase, never sent
    assert not any("/routes/" in path for _, path in fake.writes)
    # The rerun re-reads, re-plans and continues: nothing that took effect is sent again.
    reconciler(fake, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    assert max(_puts(fake).values()) == 1
    assert len(_puts(fake)) == 8
    assert reconciler(fake, repo, fake_redis).plan(spec("c1")).plan.changes == []


def test_a_permanent_failure_keeps_its_class(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(fail_write={1: 400}), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    with pytest.raises(PermanentError, match="injected failure"):
        reconciler(fake, repo, fake_redis).reconcile(spec("c1"), "step", "evt")


@pytest.mark.parametrize("crash_at", [1, 2, 4, 7, 8])
def test_a_worker_killed_mid_apply_resumes_without_a_duplicate_write(fake_redis: redis.Redis, crash_at: int) -> None:
    fake, repo = FakeApi7(crash_after_write=crash_at), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": MANY})
    with pytest.raises(Crash):
        reconciler(fake, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    fake.crash_after_write = None
    # The lock of the killed run is taken over (its holder's heartbeat is this process: release it as death would).
    fake_redis.delete("relay:gitops:lock:gw:default")
    reconciler(fake, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    assert max(_puts(fake).values()) == 1
    assert len(_puts(fake)) == 8


def test_a_write_only_resource_cut_short_is_sent_again(fake_redis: redis.Redis) -> None:
    # The gateway never shows an SSL key: whether it landed cannot be seen, so the PUT (by id) is sent once more.
    fake, repo = FakeApi7(crash_after_write=1), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": "ssls:\n  - snis: [a.test]\n    certificates: [{certificate: C, key: K}]\n"})
    with pytest.raises(Crash):
        reconciler(fake, repo, fake_redis).reconcile(spec("c1"), "step", "evt")
    fake.crash_after_write = None
    fake_redis.delete("relay:gitops:lock:gw:default")
    reconciler(fake, repo, fake_redis).reconcile(spec("c1"), "step", "evt")
    assert list(_puts(fake).values()) == [2]
    assert reconciler(fake, repo, fake_redis).plan(spec("c1")).plan.changes == []


def test_writes_in_flight_stay_within_the_bound(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    services = "services:\n" + "".join(
        f"  - name: s{i}\n    upstream: {{nodes: [{{host: h, port: 80, weight: 1}}]}}\n" for i in range(6)
    )
    repo.commit("c1", {"gateway/a.yaml": services})
    state = {"now": 0, "most": 0, "started": 0}
    changed = threading.Condition()
    inner = fake.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method != "PUT":
            return inner(request)
        with changed:
            state["now"] += 1
            state["started"] += 1
            state["most"] = max(state["most"], state["now"])
            changed.notify_all()
            # Hold each write until the bound is reached (or every write has started): a pool wider than the
            # bound would show more at once.
            changed.wait_for(lambda: state["now"] >= 2 or state["started"] >= 6, timeout=10)
        try:
            return inner(request)
        finally:
            with changed:
                state["now"] -= 1
                changed.notify_all()

    fake.handler = handler  # type: ignore[method-assign]
    reconciler(fake, repo, fake_redis).reconcile(spec("c1", max_in_flight=2), "step", "evt")
    assert state["most"] == 2
    assert len(_puts(fake)) == 6


def test_ids_in_paths_are_adcs(fake_redis: redis.Redis) -> None:
    fake, repo = FakeApi7(), FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    reconciler(fake, repo, fake_redis).reconcile(spec("c1"), "step", "evt")
    assert f"/apisix/admin/services/{sha1('billing')}" in fake.paths()
    route = fake.store[f"/apisix/admin/routes/{sha1('billing.list-invoices')}"]
    assert route["service_id"] == sha1("billing")
    assert route["paths"] == ["/invoices"]
    assert route["labels"] == {"managed-by": "relay", "relay-repo": "gateway-config"}
    assert fake.store["/apisix/admin/global_rules/prometheus"]["plugins"] == {
        "prometheus": {"prefer_name": True, "_meta": {"disable": False}}
    }
