"""After a fault run: resolve each dead letter of unknown outcome as an operator would, and replay it.

The operator checks the target (here the sandbox's effect counts): a create that took effect is replayed with
``--skip-unknown`` (recorded as done, never sent again), one that did not with ``--retry-unknown``.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

import httpx

from worker.celery_app import EVENTS_QUEUE, PROCESS_EVENT, private_app
from worker.config import Settings
from worker.store.events import EventStatus, EventStore
from worker.store.inflight import Resolution, resolve_unknown, unknown_actions
from worker.store.messages import TaskMessageEncoder


def replay_unknown(store: EventStore, sandbox: str, redis_url: str) -> tuple[dict[str, int], set[str]]:
    """Replay every dead letter whose outcome is unknown, resolved by what the sandbox applied: counts and ids."""
    encoder = _encoder(redis_url)
    applied = _applied(sandbox)
    chosen: Counter[str] = Counter()
    replayed: set[str] = set()
    for record in store.dead_letters(10**6):
        unknown = unknown_actions(record)
        if record.status != EventStatus.FAILED or not unknown:
            continue
        how: Resolution = "skip" if all(applied[action.key] for action in unknown) else "retry"
        resolve = partial(resolve_unknown, how=how)
        store.replay(record.id, queue=EVENTS_QUEUE, message=encoder.encode(record.id), resolve=resolve)
        chosen[how] += 1
        replayed.add(record.id)
    return dict(chosen), replayed


def _applied(sandbox: str) -> Counter[str]:
    answer = httpx.get(f"{sandbox}/_sandbox/effects", params={"by": "idempotency_key"}, timeout=30)
    answer.raise_for_status()
    return Counter({key: int(n) for key, n in answer.json().get("counts", {}).items()})


def replay_all(store: EventStore, redis_url: str, event_ids: set[str]) -> None:
    """Replay dead letters as they are, as ``relay replay`` does."""
    encoder = _encoder(redis_url)
    for event_id in sorted(event_ids):
        store.replay(event_id, queue=EVENTS_QUEUE, message=encoder.encode(event_id))


def _encoder(redis_url: str) -> TaskMessageEncoder:
    # Only the message template is needed, not this process's configuration.
    app = private_app(Settings.model_construct(), redis_url=redis_url)
    return TaskMessageEncoder(app, PROCESS_EVENT, EVENTS_QUEUE)
