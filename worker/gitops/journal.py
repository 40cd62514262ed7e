"""The write journal of one reconcile step: which writes were sent, and which are known to have taken effect.

Relay's once-with-effect rule for calls (``worker.inflight``) applied to each write of a reconcile: a write is
marked ``sent`` before it goes out and ``done`` once its answer came back and its inventory entry is recorded. A
rerun of the step (a retry, a replay, a worker killed mid-apply) re-reads the gateway and re-plans; a write the
journal has ``done`` is never sent again, and a ``sent`` one (its answer never came) is settled against the re-read:
if the gateway shows its fields it took effect, else it is sent again (a PUT by id or a DELETE of what is still
there cannot apply twice).
"""

from __future__ import annotations

import hashlib
from typing import Literal

import redis

from worker.gitops import keys

State = Literal["sent", "done"]


class Journal:
    """The journal of one step (an event's sync action, for one revision)."""

    def __init__(self, client: redis.Redis, step: str, ttl_seconds: int) -> None:
        self.client = client
        self.step = step
        self.name = keys.JOURNAL + step
        self.ttl = ttl_seconds

    def state(self, write: str) -> State | None:
        """What is known of a write."""
        value = self.client.hget(self.name, write)
        text = value.decode() if isinstance(value, bytes) else value
        return text if text in ("sent", "done") else None  # type: ignore[return-value]

    def idempotency_key(self, write: str) -> str:
        """The ``Idempotency-Key`` a write is sent with: the step, then a digest of the write (request and bodies).

        API7 ignores it; it names the write in the gateway's access log, and lets a fault run count a write that
        took effect twice.
        """
        return f"{self.step}:{hashlib.sha256(write.encode()).hexdigest()[:16]}"

    def sent(self, write: str) -> None:
        """About to send ``write``."""
        self._set(write, "sent")

    def done(self, write: str) -> None:
        """``write`` took effect."""
        self._set(write, "done")

    def counts(self) -> dict[str, int]:
        """How many writes are sent and done."""
        counts = {"sent": 0, "done": 0}
        for value in self.client.hvals(self.name):
            text = value.decode() if isinstance(value, bytes) else str(value)
            counts[text] = counts.get(text, 0) + 1
        return counts

    def _set(self, write: str, state: State) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.name, write, state)
            pipe.expire(self.name, self.ttl)
            pipe.execute()
