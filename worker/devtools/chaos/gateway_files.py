"""The reconcile workload's repository content: a seeded series of ADC files that change on every commit.

Each revision keeps service ``billing`` and the consumer ``ci-bot`` (its key filled from ``${CHAOS_CI_KEY}``),
and changes the rest: services ``orders`` and ``users`` come and go, routes are added, dropped and renamed (ADC's id
is the name path's hash, so a rename is a delete and a create), their paths and methods change, upstream ports
move, a second consumer is renamed and a global rule toggles. ``Expected`` is what the gateway group must hold once
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
    methods), consumer usernames, global rule ids."""

    services: dict[str, int] = field(default_factory=dict)
    routes: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    consumers: frozenset[str] = frozenset()
    global_rules: frozenset[str] = frozenset()


@dataclass(frozen=True)
class GatewayRevision:
    """One revision: the file's text and what applying it leaves on the gateway."""

    number: int
    text: str
    expected: Expected


def revision(number: int, rng: random.Random) -> GatewayRevision:
    """The ``number``-th revision, drawn from ``rng``."""
    services: list[dict[str, object]] = []
    expected_services: dict[str, int] = {}
    expected_routes: dict[str, tuple[list[str], list[str]]] = {}
    for name in SERVICES:
        if name != "billing" and rng.random() < 0.4:
            continue
        port = 8000 + rng.randrange(10)
        routes = []
        for route in sorted(rng.sample(ROUTES, rng.randint(1, 4))):
            uri = f"/{name}/{route}/v{rng.randrange(3)}"
            methods = sorted(rng.sample(METHODS, rng.randint(1, 3)))
            routes.append({"name": route, "uris": [uri], "methods": methods})
            expected_routes[sha1(f"{name}.{route}")] = ([uri], methods)
        upstream = {"name": "default", "scheme": "http", "type": "roundrobin"}
        nodes = [{"host": f"{name}.internal", "port": port, "weight": 100}]
        services.append({"name": name, "upstream": {**upstream, "nodes": nodes}, "routes": routes})
        expected_services[sha1(name)] = port
    second = f"deployer-{number % 3}"
    consumers = [
        {"username": "ci-bot", "plugins": {"key-auth": {"key": "${" + KEY_VARIABLE + "}"}}},
        {"username": second, "description": f"revision {number}"},
    ]
    content: dict[str, object] = {"services": services, "consumers": consumers}
    rules = frozenset({"prometheus"} if number % 2 else set())
    if rules:
        content["global_rules"] = {"prometheus": {"prefer_name": True}}
    text = f"# revision {number}\n" + yaml.safe_dump(content, sort_keys=False)
    expected = Expected(expected_services, expected_routes, frozenset({"ci-bot", second}), rules)
    return GatewayRevision(number, text, expected)


def series(count: int, seed: int | None) -> list[GatewayRevision]:
    """``count`` revisions drawn from one seeded generator."""
    rng = random.Random(seed)
    return [revision(number, rng) for number in range(count)]
