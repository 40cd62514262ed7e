"""Many pushes: one reconcile per group at a time, the newest commit wins, attempted apart from applied."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import redis

from tests.worker.gitops.support import EXAMPLE, FakeRepo, Gateway, reconciler, spec
from worker.errors import DesiredStateError, GitOpsError, RetryableError
from worker.gitops.ids import sha1
from worker.gitops.revisions import Revisions
from worker.gitops.source import CommitFiles

V2 = EXAMPLE.replace("methods: [GET]", "methods: [GET, HEAD]")
V3 = EXAMPLE.replace("methods: [GET]", "methods: [POST]")


def _repo() -> FakeRepo:
    repo = FakeRepo()
    for sha, text in (("c1", EXAMPLE), ("c2", V2), ("c3", V3)):
        repo.commit(sha, {"gateway/a.yaml": text})
    return repo


def _methods(gateway: Gateway) -> list[str]:
    return list(gateway.resources()["routes"][sha1("billing.list-invoices")]["methods"])


def test_an_older_revision_than_the_last_applied_is_skipped_with_that_reason(
    fake_redis: redis.Redis, gateway: Gateway
) -> None:
    repo = _repo()
    reconciler(gateway, repo, fake_redis).reconcile(spec("c2"), "s2", "e2")
    writes = len(gateway.writes())
    outcome = reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    assert outcome.outcome == "skipped"
    assert "older than the last applied revision c2" in (outcome.reason or "")
    assert len(gateway.writes()) == writes
    assert _methods(gateway) == ["GET", "HEAD"]


def test_a_push_during_a_reconcile_is_left_for_it_and_only_the_newest_runs(
    fake_redis: redis.Redis, gateway: Gateway
) -> None:
    repo = _repo()
    revisions = Revisions(fake_redis, "gw", "default")
    held = revisions.lock(60)
    assert held.acquire()
    # Two pushes arrive while a reconcile runs: c3, then (delivered late) c2. The older never replaces the newer.
    first = reconciler(gateway, repo, fake_redis).reconcile(spec("c3"), "s3", "e3")
    second = reconciler(gateway, repo, fake_redis).reconcile(spec("c2"), "s2", "e2")
    assert (first.outcome, second.outcome) == ("deferred", "superseded")
    assert (first.waiting, second.waiting) == (True, False)
    assert second.reason == "a newer revision already waits for the running reconcile"
    assert revisions.peek() is not None
    assert revisions.peek().revision == "c3"  # type: ignore[union-attr]
    held.release()
    # The running reconcile (of c1) ends by taking the pending revision.
    outcome = reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    assert [run["revision"] for run in outcome.runs] == ["c1", "c3"]
    assert _methods(gateway) == ["POST"]
    assert revisions.state().last_applied == "c3"
    assert revisions.peek() is None


def test_a_failed_reconcile_moves_last_attempted_only(fake_redis: redis.Redis, gateway: Gateway) -> None:
    repo = _repo()
    repo.commit("bad", {"gateway/a.yaml": "services:\n  - name: a\n    routes: [{name: r}]\n"})
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    writes = len(gateway.writes())
    with pytest.raises(DesiredStateError, match=r"gateway/a.yaml:3: services\[0\] \(a\).routes\[0\] \(r\).uris"):
        reconciler(gateway, repo, fake_redis).reconcile(spec("bad"), "s2", "e2")
    assert len(gateway.writes()) == writes  # a bad file writes nothing
    state = Revisions(fake_redis, "gw", "default").state()
    assert (state.last_attempted, state.last_applied, state.outcome) == ("bad", "c1", "failed")
    history = Revisions(fake_redis, "gw", "default").history()
    assert [entry["outcome"] for entry in history] == ["failed", "applied"]


def test_an_older_revision_than_a_newer_one_left_half_applied_is_skipped(
    fake_redis: redis.Redis, gateway: Gateway
) -> None:
    # c3's reconcile fails after some of its writes took effect; c2, delivered late, must not be applied over them.
    repo = _repo()
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    gateway.sandbox.fault(status=503, method="PUT", path="/apisix/admin/routes/", count=1)
    with pytest.raises(RetryableError):
        reconciler(gateway, repo, fake_redis).reconcile(spec("c3"), "s3", "e3")
    writes = len(gateway.writes())

    outcome = reconciler(gateway, repo, fake_redis).reconcile(spec("c2"), "s2", "e2")

    assert outcome.outcome == "skipped"
    assert outcome.reason == "c2 is older than c3, whose reconcile started and did not finish"
    assert len(gateway.writes()) == writes
    assert reconciler(gateway, repo, fake_redis).reconcile(spec("c3"), "s3", "e3").outcome == "applied"
    assert _methods(gateway) == ["POST"]


def test_an_unchanged_gateway_reconciles_to_nothing(fake_redis: redis.Redis, gateway: Gateway) -> None:
    repo = _repo()
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    writes = len(gateway.writes())
    outcome = reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1b", "e1b")
    assert outcome.outcome == "unchanged"
    assert len(gateway.writes()) == writes


def test_a_second_push_renaming_and_dropping_updates_creates_and_prunes_exactly_those(
    fake_redis: redis.Redis, gateway: Gateway
) -> None:
    repo = FakeRepo()
    repo.commit("c1", {"gateway/a.yaml": EXAMPLE})
    consumer = 'consumers:\n  - username: ci-bot\n    plugins: {key-auth: {key: "${CI_BOT_KEY}"}}\n'
    repo.commit(
        "c2", {"gateway/a.yaml": EXAMPLE.replace("name: list-invoices", "name: invoices").replace(consumer, "")}
    )
    reconciler(gateway, repo, fake_redis).reconcile(spec("c1"), "s1", "e1")
    service = sha1("billing")
    gateway.sandbox.seed("routes", "hand-made", {"name": "hand", "paths": ["/h"], "service_id": service})
    gateway.sandbox.seed("consumers", "adc_user", {"username": "adc_user"}, made_by="adc")
    planned = reconciler(gateway, repo, fake_redis).plan(spec("c2", prune=True))
    assert sorted((c.op, c.resource.type, c.resource.name) for c in planned.plan.changes) == [
        ("create", "route", "billing/invoices"),
        ("delete", "consumer", "ci-bot"),
        ("delete", "route", "billing/list-invoices"),
    ]
    reconciler(gateway, repo, fake_redis).reconcile(spec("c2", prune=True), "s2", "e2")
    resources = gateway.resources()
    assert set(resources["routes"]) == {sha1("billing.invoices"), "hand-made"}
    assert set(resources["consumers"]) == {"adc_user"}


class _StrictRepo(FakeRepo):
    """A reader that, like worker.repos', refuses a revision that is no commit id or ref with ValueError."""

    def read_files(self, repo: str, revision: str, patterns: Sequence[str]) -> CommitFiles:
        if " " in revision:
            raise ValueError(f"not a commit id or a valid ref name: {revision!r}")
        return super().read_files(repo, revision, patterns)


def test_a_revision_the_reader_refuses_is_a_gitops_error(fake_redis: redis.Redis, gateway: Gateway) -> None:
    with pytest.raises(GitOpsError, match="repository gateway-config: not a commit id or a valid ref name"):
        reconciler(gateway, _StrictRepo(), fake_redis).reconcile(spec("not a ref"), "s", "e")


def test_a_pending_revision_that_fails_leaves_the_taking_events_own_revision_applied(
    fake_redis: redis.Redis, gateway: Gateway
) -> None:
    repo = _repo()
    repo.commit("bad", {"gateway/a.yaml": "services:\n  - name: a\n    routes: [{name: r}]\n"})
    held = Revisions(fake_redis, "gw", "default").lock(60)
    assert held.acquire()
    deferred = reconciler(gateway, repo, fake_redis).reconcile(spec("bad"), "sb", "eb")
    assert (deferred.outcome, deferred.waiting) == ("deferred", True)
    held.release()

    outcome = reconciler(gateway, repo, fake_redis).reconcile(spec("c2"), "s2", "e2")

    # c2's event succeeds with c2 applied; the bad file's failure is noted, and its own event meets it on its retry.
    assert (outcome.outcome, outcome.revision) == ("applied", "c2")
    assert [run["outcome"] for run in outcome.runs] == ["applied", "failed"]
    assert "gateway/a.yaml:3" in outcome.runs[-1]["reason"]
    assert _methods(gateway) == ["GET", "HEAD"]
    with pytest.raises(DesiredStateError, match=r"gateway/a\.yaml:3"):
        reconciler(gateway, repo, fake_redis).reconcile(spec("bad"), "sb", "eb")


def test_redis_failing_during_a_reconcile_is_a_transient_error(
    fake_redis: redis.Redis, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reset(*_: object) -> None:
        raise redis.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(fake_redis, "getdel", reset)  # when the reconcile looks for a pending revision
    with pytest.raises(RetryableError, match=r"Redis failed during the reconcile \(ConnectionError\); retried"):
        reconciler(gateway, _repo(), fake_redis).reconcile(spec("c1"), "s1", "e1")
