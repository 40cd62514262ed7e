"""The reconcile workload's revisions: seeded, strict ADC that Relay loads, changing in every way the run needs."""

from __future__ import annotations

import itertools

import pytest

from worker.devtools.chaos.gateway_files import FILE, KEY_VARIABLE, GatewayRevision, series
from worker.errors import DesiredStateError
from worker.gitops.desired import load_desired
from worker.gitops.envvars import EnvPolicy, Filler
from worker.gitops.ids import sha1
from worker.gitops.limits import DEFAULT_LIMITS


def _ids(revision: GatewayRevision, kind: str) -> set[str]:
    filler = Filler(EnvPolicy(frozenset({KEY_VARIABLE})), {KEY_VARIABLE: "k" * 24})
    desired = load_desired({FILE: revision.text.encode()}, repo="r", filler=filler, limits=DEFAULT_LIMITS)
    return {
        f"{resource.parent}/{resource.id}" if kind == "upstream" else resource.id
        for resource in desired.resources.values()
        if resource.type == kind
    }


def test_one_seed_gives_one_series_and_another_seed_another() -> None:
    assert [r.text for r in series(6, 1)] == [r.text for r in series(6, 1)]
    assert [r.text for r in series(6, 1)] != [r.text for r in series(6, 2)]


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_each_revision_is_strict_adc_whose_resources_are_the_expected_ones(seed: int) -> None:
    for revision in series(8, seed):
        if revision.broken:
            continue  # below
        expected = revision.expected
        assert _ids(revision, "service") == set(expected.services)
        assert _ids(revision, "route") == set(expected.routes)
        assert _ids(revision, "consumer") == set(expected.consumers)
        assert _ids(revision, "global_rule") == set(expected.global_rules)
        assert _ids(revision, "upstream") == set(expected.upstreams)
        assert sha1("billing") in expected.services
        assert "ci-bot" in expected.consumers


def test_the_series_adds_drops_and_renames() -> None:
    revisions = series(12, 7)
    routes = [set(r.expected.routes) for r in revisions]
    services = [set(r.expected.services) for r in revisions]
    assert all(a != b for a, b in itertools.pairwise(routes))  # every push changes the routes
    assert any(b - a and a - b for a, b in itertools.pairwise(routes))  # some add and drop at once
    assert len({frozenset(s) for s in services}) > 1  # services come and go
    assert len({frozenset(r.expected.upstreams) for r in revisions}) > 2  # named upstreams come, go and change
    assert {limit for r in revisions for _, _, limit in r.expected.routes.values()} == {None, 10, 20}
    assert {frozenset(r.expected.global_rules) for r in revisions} == {frozenset(), frozenset({"prometheus"})}


def test_the_middle_revision_is_broken_and_relay_refuses_it_naming_file_line_and_field() -> None:
    revisions = series(8, 7)
    assert [r.number for r in revisions if r.broken] == [4]
    with pytest.raises(
        DesiredStateError, match=r"gateway/chaos\.yaml:\d+: services\[0\] \(billing\)\.routes\[0\] .*uris"
    ):
        _ids(revisions[4], "route")
    assert not any(r.broken for r in series(3, 7))  # too short a series to spare one
