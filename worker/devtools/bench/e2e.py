"""End to end: webhook posted to admin API call made, for Relay and for a plain Celery task doing the same call."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis

from worker.celery_app import EVENTS_QUEUE
from worker.devtools.bench import loadgen, sandbox
from worker.devtools.bench.procs import Bench
from worker.store.connection import connect
from worker.store.events import FINAL_STATUSES, EventStatus
from worker.store.keyspace import FIELD_STATUS, FIELD_UPDATED_AT, UNACKED_KEY, event_key
from worker.waiting import wait_until

POST_CONNECTIONS = 32
STEADY_CONNECTIONS = 4


@dataclass(frozen=True)
class Throughput:
    """Events from first post to last done."""

    events: int
    seconds: float
    failed: int

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Latency:
    """Webhook posted to admin API call received, at a steady rate."""

    events: int
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    failed_calls: int
    not_done: int


def post(bench: Bench, secret: str, count: int, *, rate: float | None) -> tuple[list[str], list[float]]:
    """Post ``count`` unique deliveries; return the event ids and the wall-clock time each was sent."""
    requests = loadgen.signed_requests(count, bench.receiver_port, secret)
    connections = STEADY_CONNECTIONS if rate else POST_CONNECTIONS
    result = loadgen.run_drive(bench.receiver_port, requests, concurrency=connections, rate=rate)
    if result.statuses.get(202, 0) != count:
        raise RuntimeError(f"the receiver did not accept every delivery: {result.statuses}")
    return [json.loads(body)["event_id"] for body in result.bodies], result.sent_at


def finished(client: redis.Redis, event_ids: list[str]) -> list[tuple[str, float]]:
    """Status and last update of each event (``queued`` and 0 for one not written yet)."""
    with client.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.hmget(event_key(event_id), FIELD_STATUS, FIELD_UPDATED_AT)
        rows = pipe.execute()
    return [((s or b"queued").decode(), float(u or 0)) for s, u in rows]


def drained(client: redis.Redis, queue: str) -> bool:
    """Nothing waits in ``queue`` and no message is unacknowledged: each was run and acked (late acks)."""
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(queue)
        pipe.hlen(UNACKED_KEY)
        waiting, unacked = pipe.execute()
    return int(waiting) == 0 and int(unacked) == 0


def wait_final(client: redis.Redis, event_ids: list[str], *, timeout: float) -> list[tuple[str, float]]:
    """Wait until every event is done, failed or skipped; return their statuses.

    The cheap check (queue drained) is polled; the events themselves are read once it holds, so that the bench
    takes no CPU or Redis time from the worker it measures.
    """
    rows: list[tuple[str, float]] = []

    def all_final() -> bool:
        nonlocal rows
        if not drained(client, EVENTS_QUEUE):
            return False
        rows = finished(client, event_ids)
        return all(status in FINAL_STATUSES for status, _ in rows)

    wait_until(all_final, timeout=timeout, what=f"{len(event_ids)} events finishing", interval=0.1)
    return rows


def relay_throughput(bench: Bench, client: redis.Redis, secret: str, count: int) -> Throughput:
    """Post ``count`` events flat out; time from the first post to the last event's final update."""
    event_ids, sent_at = post(bench, secret, count, rate=None)
    rows = wait_final(client, event_ids, timeout=120 + count / 20)
    failed = sum(1 for status, _ in rows if status != EventStatus.DONE)
    return Throughput(count, max(u for _, u in rows) - min(sent_at), failed)


def relay_latency(
    bench: Bench, client: redis.Redis, secret: str, *, rate: float, seconds: float,
    during: Callable[[], None] | None = None,
) -> Latency:  # fmt: skip
    """Post at ``rate`` for ``seconds`` (running ``during`` alongside); post time to the sandbox's receipt."""
    import threading

    sandbox.clear(bench.sandbox_url)
    side = threading.Thread(target=during, daemon=True) if during else None
    if side:
        side.start()
    event_ids, sent_at = post(bench, secret, int(rate * seconds), rate=rate)
    if side:
        side.join()
    rows = wait_final(client, event_ids, timeout=120)
    posted = dict(zip(event_ids, sent_at, strict=True))
    calls = sandbox.calls(bench.sandbox_url)
    first: dict[str, float] = {}
    for call in calls:
        event_id = call.key.split(":", 1)[0]
        if event_id in posted and call.status < 400:
            first.setdefault(event_id, call.time)
    ms = [(first[e] - posted[e]) * 1000 for e in event_ids if e in first]
    return Latency(
        events=len(event_ids), rate=len(event_ids) / (max(sent_at) - min(sent_at)),
        p50_ms=loadgen.percentile(ms, 0.50), p99_ms=loadgen.percentile(ms, 0.99), max_ms=max(ms, default=0.0),
        failed_calls=sum(1 for call in calls if call.status >= 400),
        not_done=sum(1 for status, _ in rows if status != EventStatus.DONE),
    )  # fmt: skip


def plain_throughput(bench: Bench, count: int, *, prefix: str = "plain") -> Throughput:
    """Queue ``count`` plain tasks; time from the first publish to the sandbox's last answer."""
    from worker.devtools.bench.plain import QUEUE, TASK, make_app

    app = make_app(bench.redis.url)
    client = connect(bench.redis.url)
    url = f"{bench.sandbox_url}{sandbox.CALL_PATH}"
    sandbox.clear(bench.sandbox_url)
    started = time.time()
    with app.producer_or_acquire() as producer:
        for number in range(count):
            app.send_task(TASK, args=[url, f"{prefix}-{number}"], producer=producer)
    calls: list[sandbox.Call] = []

    def all_called() -> bool:
        # The sandbox's records are read only once the queue looks drained (a message between kombu's BRPOP and
        # its bookkeeping is in neither place, hence the count check too).
        nonlocal calls
        if not drained(client, QUEUE):
            return False
        calls = [c for c in sandbox.calls(bench.sandbox_url) if c.key.startswith(prefix + "-")]
        return len({c.key for c in calls}) >= count

    try:
        wait_until(all_called, timeout=120 + count / 20, what=f"{count} plain calls", interval=0.1)
    finally:
        client.close()
    failed = sum(1 for c in calls if c.status >= 400)
    return Throughput(count, max(c.finished for c in calls) - started, failed)


def as_dict(value: Throughput | Latency) -> dict[str, Any]:
    """The figures as JSON, a throughput with its rate."""
    data = asdict(value)
    if isinstance(value, Throughput):
        data["rate"] = value.rate
    return data
