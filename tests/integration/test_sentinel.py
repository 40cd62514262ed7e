"""A Redis failover under load: real redis-server processes (a primary, a replica) and three Sentinels.

Deliveries are posted while the primary is SIGKILLed and the Sentinels promote the replica. The receiver answers
503 only while there is no primary, the worker resumes on the new one, and every acknowledged event is done.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.integration.support import Stack, rule, stack_config
from tests.support import Sandbox, github_delivery, wait_for
from worker.devtools.supervise.children import Child, Supervisor
from worker.devtools.supervise.embedded import embedded_redis_binary, free_port
from worker.store.connection import connect, ping
from worker.store.events import EventStatus, EventStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MASTER = "relay"
SECRET = "sentinel-test-secret"
# Sentinel's own timings, shortened so the whole failover takes a few seconds.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
# After the promotion, clients reconnect on their next command; allow for the Sentinels' propagation too.
RECONNECT_GRACE = 5.0


@dataclass
class Node:
    """One redis-server process (a data node or a Sentinel)."""

    port: int
    child: Child

    def kill(self) -> None:
        """SIGKILL, as a machine loss would: no shutdown save."""
        self.child.kill()


@pytest.fixture
def start_node(tmp_path: Path, processes: Supervisor) -> Callable[..., Node]:
    """Start ``redis-server`` with arguments (or a config file); every node is stopped at the end."""

    def start(name: str, *args: str, config: str | None = None) -> Node:
        port = free_port()
        directory = tmp_path / name
        directory.mkdir()
        command = [embedded_redis_binary()]
        if config is not None:  # a Sentinel: it rewrites its config file, so it must be its own writable file
            (directory / "sentinel.conf").write_text(f"port {port}\nbind 127.0.0.1\n{config}", encoding="utf-8")
            command += [str(directory / "sentinel.conf"), "--sentinel"]
        else:
            command += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", ""]
            command += ["--appendonly", "yes", "--appendfsync", "everysec", *args]
        ready = lambda _: ping(f"redis://127.0.0.1:{port}")  # noqa: E731
        return Node(port, processes.start(name, command, env=dict(os.environ), ready=ready, timeout=10))

    return start


@dataclass
class Cluster:
    """The data nodes and the Sentinels watching them."""

    primary: Node
    replica: Node
    sentinels: list[Node]

    @property
    def url(self) -> str:
        """Celery's Sentinel form of ``redis_url``."""
        return ";".join(f"sentinel://127.0.0.1:{sentinel.port}" for sentinel in self.sentinels) + "/0"

    def primary_port(self) -> int | None:
        """The primary's port, as the first Sentinel that answers sees it."""
        for sentinel in self.sentinels:
            if sentinel.child.running():
                client = redis.Redis(port=sentinel.port, socket_timeout=1)
                try:
                    address = client.sentinel_get_master_addr_by_name(MASTER)
                    return int(address[1]) if isinstance(address, tuple) else None
                finally:
                    client.close()
        return None


@pytest.fixture
def cluster(start_node: Callable[..., Node]) -> Cluster:
    """A primary, its replica (in sync), and three Sentinels that agree on both."""
    primary = start_node("primary", "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
    replica = start_node("replica", "--replicaof", "127.0.0.1", str(primary.port))
    config = (
        f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 2\n"
        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {MASTER} 1\n"
    )
    sentinels = [start_node(f"sentinel{i}", config=config) for i in range(3)]

    def agreed() -> bool:
        for sentinel in sentinels:
            client = redis.Redis(port=sentinel.port, socket_timeout=1)
            try:
                state = client.sentinel_master(MASTER)
                assert isinstance(state, dict)
                if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 1:
                    return False
            finally:
                client.close()
        return True

    wait_for(agreed, timeout=30, interval=0.2, what="the Sentinels to find each other and the replica")
    return Cluster(primary, replica, sentinels)


@dataclass
class Answer:
    """One delivery's answer and when it came."""

    at: float
    status: int
    event_id: str | None


class Poster:
    """Posts a delivery every few milliseconds on a thread, recording every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Poster:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=15) as client:
            number = 0
            while not self._stop.is_set():
                number += 1
                answer = client.post(self.url, **github_delivery({"n": number}, secret=SECRET))
                event_id = answer.json().get("event_id") if answer.status_code == 202 else None
                self.answers.append(Answer(time.monotonic(), answer.status_code, event_id))
                self._stop.wait(0.02)

    def accepted_since(self, moment: float) -> int:
        """Deliveries acknowledged after ``moment``."""
        return sum(1 for answer in self.answers if answer.status == 202 and answer.at > moment)


def test_a_failover_loses_nothing_acknowledged_and_the_receiver_refuses_only_while_there_is_no_primary(
    cluster: Cluster, stack: Callable[..., Stack], sandbox: Sandbox
) -> None:
    config = stack_config(sandbox, rule("read"), secret=SECRET, redis_url=cluster.url, redis_sentinel_master=MASTER)
    # Beat runs the sweeper: a message the worker had popped from the old primary just before it died (its unacked
    # bookkeeping not yet replicated) is re-queued from its stored record.
    relay = stack(config, beat=True, redis=cluster.url)
    receiver, settings = relay.receiver, relay.settings
    with Poster(f"{receiver.url}/hooks/github") as poster:
        wait_for(lambda: poster.accepted_since(0) >= 20, timeout=20, what="deliveries before the failover")
        killed_at = time.monotonic()
        cluster.primary.kill()
        wait_for(lambda: cluster.primary_port() == cluster.replica.port, timeout=30, interval=0.1, what="promotion")
        promoted_at = time.monotonic()
        wait_for(lambda: poster.accepted_since(promoted_at) >= 20, timeout=30, what="deliveries on the new primary")

    refused = [answer for answer in poster.answers if answer.status != 202]
    assert refused, "no delivery met the failover: the test proved nothing"
    print(
        f"{len(refused)} refused over {refused[-1].at - refused[0].at:.1f}s; promotion {promoted_at - killed_at:.1f}s"
    )
    assert {answer.status for answer in refused} <= {503}, "only 503 while Redis has no primary, never a 2xx unstored"
    assert all(killed_at <= answer.at <= promoted_at + RECONNECT_GRACE for answer in refused)

    # Nothing acknowledged is missing: every 202 (before, during and after) is stored and done by the worker.
    store = EventStore(connect(cluster.url, settings), retention_seconds=600)
    accepted = [answer.event_id for answer in poster.answers if answer.event_id]

    def all_done() -> bool:
        return all(store.get(event_id).status == EventStatus.DONE for event_id in accepted)

    try:
        wait_for(all_done, timeout=90, interval=0.5, what="every acknowledged event done")
    except BaseException:
        stuck = {e: (str(r.status), r.attempts, r.error) for e in accepted if (r := store.get(e)).status != "done"}
        pytest.fail(f"not done: {stuck}")
    assert len(accepted) >= 40
