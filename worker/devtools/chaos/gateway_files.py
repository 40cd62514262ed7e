"""The reconcile workload's repository content: a seeded series of ADC files that change on every commit.

Each revision keeps service ``billing`` and the consumer ``ci-bot`` (its key filled from ``${CHAOS_CI_KEY}``),
and changes the rest: services ``orders`` and ``users`` come and go, routes are added, dropped and renamed (ADC's id
is the name path's hash, so a rename is a delete and a create), their paths, methods and rate limits change,
upstream ports move, a service's named upstream comes, goes and is renamed, a second consumer is renamed and a global
rule toggles; the middle revision is broken (a route without ``uris``), so that its push must fail naming the file
and line and write nothing. ``Expected`` is what the gateway group must hold once
that revision is applied, computed here from the generator's own choices, not by Relay's code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import yaml

from worker.gitops.ids import sha1

KEY_VARIABLE = "CHAOS_CI_KEY"
FILE = "gateway/chaos.yaml"
PATHS = ["gateway/*.yaml"]
SERVICES = ("billing", "orders", "users")
ROUTES = ("list", "get", "create", "update", "delete", "search", "export")
METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD")


@dataclass(frozen=True)
class Expected:
    """What the gateway group holds after a revision, by kind: service id -> upstream port, route id -> (paths,
    methods, limit-count's count or None), consumer usernames, global rule ids, ``<service id>/<id>`` of a service's
    named upstream -> its port."""

    services: dict[str, int] = field(default_factory=dict)
    routes: dict[str, tuple[list[str], list[str], int | None]] = field(default_factory=dict)
    consumers: frozenset[str] = frozenset()
    global_rules: frozenset[str] = frozenset()
    upstreams: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayRevision:
    """One revision: the file's text and what applying it leaves on the gateway."""

    number: int
    text: str
    expected: Expected
    broken: bool = False


def revision(number: int, rng: random.Random, *, named_upstreams: bool = True, broken: bool = False) -> GatewayRevision:
    """The ``number``-th revision, drawn from ``rng`` (API7 3.2 has no named upstreams: ``named_upstreams=False``);
    a ``broken`` one has a route without ``uris``, which Relay must refuse whole."""
    expected = Expected()
    services = [
        _service(name, rng, expected, named_upstreams) for name in SERVICES if name == "billing" or rng.random() >= 0.4
    ]
    second = f"deployer-{number % 3}"
    consumers = [
        {"username": "ci-bot", "plugins": {"key-auth": {"key": "${" + KEY_VARIABLE + "}"}}},
        {"username": second, "description": f"revision {number}"},
    ]
    if broken:
        del services[0]["routes"][0]["uris"]  # type: ignore[index]
    content: dict[str, object] = {"services": services, "consumers": consumers}
    rules = frozenset({"prometheus"} if number % 2 else set())
    if rules:
        content["global_rules"] = {"prometheus": {"prefer_name": True}}
    text = f"# revision {number}\n" + yaml.safe_dump(content, sort_keys=False)
    final = Expected(
        expected.services, expected.routes, frozenset({"ci-bot", second}), rules, expected.upstreams
    )  # fmt: skip
    return GatewayRevision(number, text, final, broken)


def _service(name: str, rng: random.Random, expected: Expected, named_upstreams: bool) -> dict[str, object]:
    """One service of a revision (its routes, maybe a named upstream), noted in ``expected``."""
    sid, port = sha1(name), 8000 + rng.randrange(10)
    routes = []
    for route in sorted(rng.sample(ROUTES, rng.randint(1, 4))):
        uri, methods = f"/{name}/{route}/v{rng.randrange(3)}", sorted(rng.sample(METHODS, rng.randint(1, 3)))
        limit = rng.choice((None, 10, 20))
        plugins = {"plugins": {"limit-count": {"count": limit, "time_window": 60}}} if limit else {}
        routes.append({"name": route, "uris": [uri], "methods": methods, **plugins})
        expected.routes[sha1(f"{name}.{route}")] = ([uri], methods, limit)
    upstream = {"name": "default", "scheme": "http", "type": "roundrobin"}
    service: dict[str, object] = {
        "name": name, "upstream": {**upstream, "nodes": [{"host": f"{name}.internal", "port": port, "weight": 100}]},
    }  # fmt: skip
    if rng.random() < 0.5 and named_upstreams:
        named, named_port = rng.choice(("canary", "blue")), 9000 + rng.randrange(10)
        nodes = [{"host": f"{name}-{named}.internal", "port": named_port, "weight": 100}]
        service["upstreams"] = [{**upstream, "name": named, "nodes": nodes}]
        expected.upstreams[f"{sid}/{sha1(f'{name}.{named}')}"] = named_port
    expected.services[sid] = port
    return {**service, "routes": routes}


def series(count: int, seed: int | None, *, named_upstreams: bool = True) -> list[GatewayRevision]:
    """``count`` revisions drawn from one seeded generator; the middle one is broken when there are four or more."""
    rng = random.Random(seed)
    broken = count // 2 if count >= 4 else None
    return [revision(number, rng, named_upstreams=named_upstreams, broken=number == broken) for number in range(count)]
