"""Applying against the sandbox: order, a failed write that stops the run and a rerun that resumes, a worker killed
mid-apply, an answer lost after the write took effect, and a bounded number of writes in flight."""

from __future__ import annotations

import pytest
import redis

from tests.worker.gitops.support import (
    EXAMPLE,
    Crash,
    CrashAfterWrite,
    FakeRepo,
    Gateway,
    InFlight,
    pem_pair,
    reconciler,
    spec,
    ssl_file,
)  # fmt: skip
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
WRITES_OF_MANY = 8  # three services, three routes, two global rules


def _kinds(writes: list[tuple[str, str]]) -> list[str]:
    return [path.split("/")[3] for _, path in writes]


def test_parents_first_deletes_last_and_child_first(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": MANY})
    repo.commit("c2", {"gateway/a.yaml": EXAMPLE})
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    assert _kinds(gateway.writes()) == ["services"] * 3 + ["routes"] * 3 + ["global_rules"] * 2
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c2", prune=True))
    assert [len(phase) for phase in planned.phases][-1] == 1  # each global rule alone
    before = len(gateway.writes())
    reconciler(gateway, repo, fake_redis).reconcile(spec("c2", prune=True), "s2", "e2")
    ops = [
        (method, kind)
        for (method, _), kind in zip(gateway.writes()[before:], _kinds(gateway.writes()[before:]), strict=True)
    ]
    first_delete = next(i for i, (method, _) in enumerate(ops) if method == "DELETE")
    assert all(method == "PUT" for method, _ in ops[:first_delete])
    deletes = [kind for method, kind in ops if method == "DELETE"]
    assert deletes.index("routes") < deletes.index("services")


def test_a_failed_write_stops_the_run_and_a_rerun_resumes_without_resending(
    gateway: Gateway, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": MANY})
    gateway.sandbox.fault(status=503, method="PUT", path=f"/apisix/admin/services/{sha1('s2')}", count=1)
    with pytest.raises(RetryableError) as caught:
        reconciler(gateway, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    message = str(caught.value)
    assert "answered 503" in message
    assert "applied 2 write(s)" in message
    assert "not applied:" in message
    assert "create route s0/r" in message  # a later phase, never sent
    assert "routes" not in _kinds(gateway.writes(effect=None))
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    assert set(gateway.effective().values()) == {1}
    assert len(gateway.effective()) == WRITES_OF_MANY
    assert reconciler(gateway, repo, fake_redis).plan(spec("c1")).plan.changes == []


def test_a_permanent_failure_keeps_its_class(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    gateway.sandbox.fault(status=400, method="PUT", count=1)
    with pytest.raises(PermanentError, match="answered 400"):
        reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "step", "evt")


@pytest.mark.parametrize("crash_at", [1, 2, 4, 7, 8])
def test_a_worker_killed_mid_apply_resumes_without_a_duplicate_write(
    gateway: Gateway, fake_redis: redis.Redis, crash_at: int
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": MANY})
    gateway.transport = CrashAfterWrite(crash_at)
    with pytest.raises(Crash):
        reconciler(gateway, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    gateway.transport = None
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    assert set(gateway.effective().values()) == {1}
    assert len(gateway.effective()) == WRITES_OF_MANY


def test_an_answer_lost_after_the_write_took_effect_is_settled_not_resent(
    gateway: Gateway, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": MANY})
    # The gateway applies the route, then its answer is a 502: the outcome is unknown to Relay.
    gateway.sandbox.fault(status=502, method="PUT", path="/apisix/admin/routes/", count=1, when="after")
    with pytest.raises(RetryableError, match="answered 502"):
        reconciler(gateway, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "step", "evt")
    assert set(gateway.effective().values()) == {1}
    assert len(gateway.effective()) == WRITES_OF_MANY


def test_a_write_only_resource_cut_short_is_sent_again(gateway: Gateway, fake_redis: redis.Redis) -> None:
    # The gateway never shows an SSL key: whether it landed cannot be seen, so the PUT (by id) is sent once more.
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": ssl_file(*pem_pair())})
    gateway.transport = CrashAfterWrite(1)
    with pytest.raises(Crash):
        reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "step", "evt")
    gateway.transport = None
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "step", "evt")
    # Sent twice, the same body: the second PUT changed nothing, so the key took effect once.
    assert len(gateway.writes(effect=None)) == 2
    assert list(gateway.effective().values()) == [1]
    assert reconciler(gateway, repo, fake_redis).plan(spec("c1")).plan.changes == []


def test_writes_in_flight_stay_within_the_bound(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    services = "services:\n" + "".join(
        f"  - name: s{i}\n    upstream: {{nodes: [{{host: h, port: 80, weight: 1}}]}}\n" for i in range(6)
    )
    repo.commit("c1", {"gateway/a.yaml": services})
    counting = InFlight(bound=2, total=6)
    gateway.transport = counting
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1", max_in_flight=2), "step", "evt")
    assert counting.most == 2
    assert len(gateway.effective()) == 6


def test_ids_bodies_and_labels_are_adcs(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "step", "evt")
    resources = gateway.resources()
    assert set(resources["services"]) == {sha1("billing")}
    route = resources["routes"][sha1("billing.list-invoices")]
    assert (route["service_id"], route["paths"]) == (sha1("billing"), ["/invoices"])
    assert route["labels"] == {"managed-by": "relay", "relay-repo": "gateway-config"}
    assert resources["global_rules"]["prometheus"]["plugins"] == {"prometheus": {"prefer_name": True}}
    assert resources["consumers"]["ci-bot"]["plugins"]["key-auth"]["key"].startswith("sha256:")


def test_an_api7_error_envelope_stops_the_run_with_its_message(gateway: Gateway, fake_redis: redis.Redis) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE.replace("uris: [/invoices]", "uris: [invoices]")})
    with pytest.raises(PermanentError) as caught:
        reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    message = str(caught.value)
    assert "PUT /apisix/admin/routes/" in message
    assert "answered 400" in message
    assert "applied 1 write(s)" in message  # the service, before its route
    assert gateway.sandbox.token not in message


def test_each_write_carries_an_idempotency_key_naming_its_step_and_revision(
    gateway: Gateway, fake_redis: redis.Redis
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": MANY})
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "evt:rule:0", "evt")
    keys = [r["idempotency_key"] for r in gateway.sandbox.requests() if r["method"] == "PUT"]
    assert len(keys) == WRITES_OF_MANY
    assert len(set(keys)) == WRITES_OF_MANY  # one per write
    assert all(key.startswith("evt:rule:0:c1:") for key in keys), keys


def test_a_create_whose_answer_was_lost_is_still_pruned_by_a_later_revision(
    gateway: Gateway, fake_redis: redis.Redis
) -> None:
    # c1's route s2 is created but its answer is lost; c2 (another event) drops s2 before c1's rerun settles it.
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": MANY})
    repo.commit("c2", {"gateway/a.yaml": MANY.replace("    routes: [{name: r, uris: [/r2]}]\n", "")})
    gateway.sandbox.fault(status=502, method="PUT", path=f"/apisix/admin/routes/{sha1('s2.r')}", when="after", count=1)
    with pytest.raises(RetryableError):
        reconciler(gateway, repo, fake_redis).reconcile(spec("c1", max_in_flight=1), "e1", "e1")
    assert sha1("s2.r") in gateway.resources()["routes"]  # it took effect

    reconciler(gateway, repo, fake_redis).reconcile(spec("c2", prune=True), "e2", "e2")

    assert sha1("s2.r") not in gateway.resources()["routes"]
    assert set(gateway.resources()["routes"]) == {sha1("s0.r"), sha1("s1.r")}
