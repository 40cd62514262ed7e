"""The desired state: ADC's format read strictly from hostile files, merged by name, with ADC's ids."""

from __future__ import annotations

import pytest

from tests.worker.gitops.support import EXAMPLE
from worker.errors import DesiredStateError
from worker.gitops.desired import DesiredState, load_desired
from worker.gitops.envvars import Filler, policy
from worker.gitops.ids import sha1
from worker.gitops.limits import DEFAULT_LIMITS, Limits
from worker.gitops.paths import check_pattern

ENV = {
    "CI_BOT_KEY": "ci-bot-key-0123456789",
    "RELAY_TOKEN_KEY": "relay-master-key-value",
    "GATEWAY_HOST": "up.internal",
}


def load(
    files: dict[str, str],
    *,
    allow: tuple[str, ...] = ("CI_BOT_KEY",),
    prefixes: tuple[str, ...] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> DesiredState:
    filler = Filler(policy(allow, prefixes), ENV)
    return load_desired(
        {name: text.encode() for name, text in files.items()}, repo="gateway-config", filler=filler, limits=limits
    )


def test_the_example_becomes_resources_with_adc_ids_and_relay_labels() -> None:
    state = load({"gateway/a.yaml": EXAMPLE})
    service_id, route_id = sha1("billing"), sha1("billing.list-invoices")
    assert set(state.resources) == {
        f"service:{service_id}", f"route:{service_id}/{route_id}", "consumer:ci-bot", "global_rule:prometheus",
    }  # fmt: skip
    route = state.resources[f"route:{service_id}/{route_id}"]
    assert route.parent == service_id
    assert route.body["uris"] == ["/invoices"]
    assert route.labels == {"managed-by": "relay", "relay-repo": "gateway-config"}
    assert state.resources[f"service:{service_id}"].labels["team"] == "payments"
    assert state.resources["consumer:ci-bot"].body["plugins"]["key-auth"]["key"] == ENV["CI_BOT_KEY"]
    assert ENV["CI_BOT_KEY"] in state.secrets


def test_adc_id_rule_matches_its_documented_table() -> None:
    # docs/guides/resource-ids.md: service sha1(name), route sha1("<service>.<route>"), ssl sha1(snis joined by ",").
    assert sha1("billing") == "acd14c7a6c04c1dd6dc6c2d66d487a28667c0ad6"
    text = """
services:
  - {name: a, id: explicit-id_1.x, routes: [{name: r, uris: [/]}]}
ssls:
  - snis: [a.example.com, b.example.com]
    certificates: [{certificate: CERT, key: KEY}]
consumers:
  - username: bob
    credentials: [{name: main, type: key-auth, config: {key: bob-key}}]
"""
    state = load({"x.yaml": text})
    assert f"route:explicit-id_1.x/{sha1('a.r')}" in state.resources
    assert f"ssl:{sha1('a.example.com,b.example.com')}" in state.resources
    assert f"credential:bob/{sha1('bob.main')}" in state.resources


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "services:\n  - name: a\n    colour: red\n",
            "x.yaml:3: services[0] (a).colour: Extra inputs are not permitted",
        ),
        (
            "services:\n  - name: a\n    routes:\n      - name: r\n        methods: [GET]\n",
            "x.yaml:4: services[0] (a).routes[0] (r).uris: Field required",
        ),
        (
            "services:\n  - name: a\n    routes:\n      - {name: r, uris: []}\n",
            "routes[0] (r).uris: List should have at least 1 item",
        ),
        ("services:\n  - {name: a, id: ../../etc}\n", "services[0] (a).id: String should match pattern"),
        (
            "consumers:\n  - username: c\n    plugins: {key-auth: {key: '${RELAY_TOKEN_KEY}'}}\n",
            "x.yaml:3: consumers[0] (c).plugins.key-auth.key: ${RELAY_TOKEN_KEY} is not allowed",
        ),
        ("consumers:\n  - username: c\n    plugins: {key-auth: {key: '${HOME}'}}\n", "${HOME} is not allowed"),
        ("consumers:\n  - username: c\n    plugins: {key-auth: {key: '${CI_BOT_KEY'}}\n", None),
        ("a: &x [1]\nb: *x\n", "YAML anchors and aliases are not allowed"),
        ("services: !!python/object/apply:os.system [ls]\n", "is not allowed"),
        ("services: []\nservices: []\n", "x.yaml:2: key 'services' appears twice"),
        ("- just\n- a list\n", "x.yaml:1: the top level must be a mapping"),
        # ADC's Configuration has no top-level upstreams (API7 EE serves no stand-alone ones): a service's only.
        ("upstreams:\n  - name: u\n    nodes: [{host: h, port: 80}]\n", "x.yaml:1: upstreams: Extra inputs are not"),
        (
            "services:\n  - name: a\n    routes: [{name: r, uris: [/]}]\n    stream_routes: [{name: s}]\n",
            "routes or stream_routes, not both",
        ),
        (
            "services:\n  - name: a\n    upstream: {nodes: [{host: h, weight: 1}]}\n    stream_routes: [{name: s}]\n",
            "x.yaml:2: services[0] (a): stream_routes need the service's upstream to have scheme tcp, udp or tls",
        ),
        ("services:\n  - name: a\n    stream_routes: [{name: s}]\n", "upstream to have scheme tcp, udp or tls"),
    ],
)
def test_a_bad_file_names_file_line_resource_and_field(text: str, expected: str | None) -> None:
    if expected is None:  # an unclosed reference is plain text, as for ADC
        assert load({"x.yaml": text}).resources
        return
    with pytest.raises(DesiredStateError) as caught:
        load({"x.yaml": text})
    assert expected in str(caught.value)
    assert ENV["RELAY_TOKEN_KEY"] not in str(caught.value)


def test_relay_variables_are_refused_even_when_a_prefix_allows_them() -> None:
    text = "consumers:\n  - username: c\n    plugins: {key-auth: {key: '${RELAY_TOKEN_KEY}'}}\n"
    with pytest.raises(DesiredStateError, match="RELAY_TOKEN_KEY"):
        load({"x.yaml": text}, prefixes=("RELAY_", ""))


def test_a_prefix_allows_its_variables() -> None:
    text = "services:\n  - name: a\n    upstream: {nodes: [{host: '${GATEWAY_HOST}', port: 80, weight: 1}]}\n"
    state = load({"x.yaml": text}, allow=(), prefixes=("GATEWAY_",))
    (service,) = state.resources.values()
    assert service.body["upstream"]["nodes"][0]["host"] == "up.internal"


def test_gateway_references_are_left_for_the_gateway() -> None:
    text = "consumers:\n  - username: c\n    plugins: {key-auth: {key: '$secret://vault/1/c/key'}}\n"
    (consumer,) = load({"x.yaml": text}).resources.values()
    assert consumer.body["plugins"]["key-auth"]["key"] == "$secret://vault/1/c/key"


def test_files_merge_by_name_and_a_duplicate_names_both_places() -> None:
    one = "services:\n  - name: a\n    upstream: {nodes: [{host: h, port: 80, weight: 1}]}\n"
    two = "services:\n  - name: b\n    upstream: {nodes: [{host: h, port: 80, weight: 1}]}\n"
    assert len(load({"g/1.yaml": one, "g/2.yaml": two}).resources) == 2
    with pytest.raises(DesiredStateError, match=r"g/2.yaml:2: service a: defined twice \(first at g/1.yaml:2\)"):
        load({"g/1.yaml": one, "g/2.yaml": one})


def test_an_explicit_id_used_twice_is_an_error() -> None:
    text = "global_rules: {}\nservices:\n  - {name: a, id: same}\n  - {name: b, id: same}\n"
    with pytest.raises(DesiredStateError, match="its id same is already used"):
        load({"x.yaml": text})


@pytest.mark.parametrize(
    ("limits", "files", "expected"),
    [
        (Limits(max_file_bytes=10), {"x.yaml": "services: []\n"}, "above the limit of 10"),
        (Limits(max_files=1), {"a.yaml": "{}", "b.yaml": "{}"}, "2 files match paths, above the limit of 1"),
        (Limits(max_total_bytes=5), {"a.yaml": "{}", "b.yaml": "{}\n\n\n"}, "above the limit of 5"),
        (Limits(max_depth=3), {"a.yaml": "a: {b: {c: {d: {e: 1}}}}"}, "nested deeper than 3 levels"),
        (Limits(max_scalar_bytes=4), {"a.yaml": "a: abcdefgh"}, "a value longer than 4 characters"),
        (Limits(max_resources=1), {"a.yaml": "global_rules: {a: {}, b: {}}"}, "2 resources, above the limit of 1"),
    ],
)
def test_limits_are_enforced(limits: Limits, files: dict[str, str], expected: str) -> None:
    with pytest.raises(DesiredStateError, match=expected):
        load(files, limits=limits)


def test_an_alias_bomb_is_refused_at_its_first_alias() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8)
    )
    with pytest.raises(DesiredStateError, match="anchors and aliases are not allowed"):
        load({"bomb.yaml": bomb})


@pytest.mark.parametrize("pattern", ["../other/*.yaml", "/etc/*.yaml", "a/../../b.yaml", "./a.yaml", "a\\b.yaml", ""])
def test_paths_cannot_leave_the_repository(pattern: str) -> None:
    with pytest.raises(ValueError, match="must"):
        check_pattern(pattern)


def test_a_file_name_outside_the_repository_from_the_reader_is_refused() -> None:
    with pytest.raises(DesiredStateError, match="must not hold"):
        load({"../escape.yaml": "{}"})
