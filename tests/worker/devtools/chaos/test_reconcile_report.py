"""The reconcile run's checks, each read from the sandbox: the final state, the write order, foreign resources."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from worker.devtools.chaos.gateway_files import Expected
from worker.devtools.chaos.reconcile_report import Foreign, differences, write_order, writes_of
from worker.devtools.sandbox.runtime_kinds import digest

KEY = "ci-bot-key-from-the-environment"
EXPECTED = Expected(
    services={"s1": 8001},
    routes={"r1": (["/a"], ["GET"], 10)},
    consumers=frozenset({"ci-bot"}),
    global_rules=frozenset({"prometheus"}),
    upstreams={"s1/u1": 9001},
)
STATE: dict[str, Any] = {
    "services": {"s1": {"upstream": {"nodes": [{"host": "h", "port": 8001}]}}, "legacy": {"name": "legacy"}},
    "routes": {"r1": {"paths": ["/a"], "methods": ["GET"], "plugins": {"limit-count": {"count": 10}}}},
    "consumers": {"ci-bot": {"plugins": {"key-auth": {"key": digest(KEY)}}}},
    "global_rules": {"prometheus": {}},
    "service_upstreams": {"s1/u1": {"nodes": [{"port": 9001}]}},
}


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    state = copy.deepcopy(STATE)
    target = state
    for step in path[:-1]:
        target = target.setdefault(step, {})
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return state


PORT = "service s1: upstream ports [9], the file says [8001]"
WRONG_KEY = "consumer ci-bot: its key is not the one the environment gives"


@pytest.mark.parametrize(
    ("state", "found"),
    [
        pytest.param(STATE, [], id="equal"),
        pytest.param(_with(("routes", "r2"), {"paths": ["/b"]}), ["routes: not in the file ['r2']"], id="extra"),
        pytest.param(_with(("routes", "r1"), None), ["routes: missing ['r1']"], id="missing"),
        pytest.param(
            _with(("routes", "r1", "methods"), ["POST"]),
            ["route r1: (['/a'], ['POST'], 10), the file says (['/a'], ['GET'], 10)"],
            id="changed-methods",
        ),
        pytest.param(_with(("services", "s1", "upstream", "nodes"), [{"port": 9}]), [PORT], id="moved-port"),
        pytest.param(
            _with(("consumers", "ci-bot", "plugins"), {"key-auth": {"key": digest("other")}}), [WRONG_KEY], id="key"
        ),
        pytest.param(_with(("global_rules", "prometheus"), None), ["global_rules: missing ['prometheus']"], id="rule"),
        pytest.param(_with(("ssls",), {"x1": {}}), ["ssls: not in the file ['x1']"], id="unused-kind"),
        pytest.param(
            _with(("service_upstreams", "s1/u1"), None), ["service_upstreams: missing ['s1/u1']"], id="named-missing"
        ),
        pytest.param(
            _with(("service_upstreams", "s1/u1", "nodes"), [{"port": 1}]),
            ["upstream s1/u1: ports [1], the file says [9001]"],
            id="named-port",
        ),
        pytest.param(
            _with(("routes", "r1", "plugins"), {}),
            ["route r1: (['/a'], ['GET'], None), the file says (['/a'], ['GET'], 10)"],
            id="limit-dropped",
        ),
    ],
)
def test_differences_name_each_way_the_group_departs_from_the_newest_file(
    state: dict[str, Any], found: list[str]
) -> None:
    assert differences(state, EXPECTED, {"services/legacy"}, KEY) == found


def _record(method: str, path: str, at: float, revision: str | None) -> dict[str, Any]:
    key = f"evt_1:gitops:0:{revision}:0123456789abcdef" if revision else None
    return {"method": method, "path": path, "time": at, "idempotency_key": key}


def test_write_order_finds_an_older_revisions_write_after_a_newer_ones() -> None:
    shas = ["a" * 40, "b" * 40, "c" * 40]
    records = [
        _record("PUT", "/r/1", 3.0, shas[0]),  # the log is not in time order: sorted by time
        _record("PUT", "/r/1", 1.0, shas[0]),
        _record("PUT", "/r/2", 2.0, shas[2]),
        _record("POST", "/other", 2.5, None),  # not a reconcile's write
    ]
    assert write_order(records, shas) == (["PUT /r/1 of revision 0 after revision 2"], 2)
    assert write_order(sorted(records, key=lambda r: -r["time"])[1:], shas) == ([], 2)
    assert (writes_of(records, shas[0]), writes_of(records, shas[1]), writes_of(records, None)) == (2, 0, 0)


def test_foreign_resources_changed_deleted_or_written_to_are_named() -> None:
    seeded: dict[str, dict[str, Any]] = {
        "routes/hand": {"paths": ["/h"]},
        "consumers/adc_user": {"username": "adc_user"},
        "services/s": {},
    }
    foreign = Foreign("http://sandbox.test", "default", seeded)
    state: dict[str, dict[str, Any]] = {"routes": {"hand": {"paths": ["/changed"]}}, "services": {"s": {}}}
    written = {"/apisix/admin/services/s": 1}
    assert foreign.touched(state, written) == [
        "routes/hand: changed",
        "consumers/adc_user: deleted",
        "services/s: written to",
    ]
    untouched: dict[str, dict[str, Any]] = {
        "routes": {"hand": {"paths": ["/h"]}},
        "consumers": {"adc_user": {"username": "adc_user"}},
    }
    assert foreign.touched({**untouched, "services": {"s": {}}}, {}) == []
