"""Redis locks for events, rotations and periodic jobs: redis-py's ``Lock``, released without Lua.

An event lock names its holder (``host:pid|nonce``): a run that finds the lock held by a process whose heartbeat
(``worker.liveness.heartbeat``) has stopped takes it over at once, instead of waiting out the lock's timeout.

These locks release with a compare-and-delete done with WATCH/MULTI rather than redis-py's Lua script: atomic on a
real server too. An event run takes and releases its lock inside its own start and end writes (``worker.store.runs``,
one round trip each); ``EventLock`` then only names the holder and takes over a dead holder's lock.
"""

from __future__ import annotations

import uuid
from typing import Any

import redis
from redis.exceptions import LockError, LockNotOwnedError, WatchError
from redis.lock import Lock

from worker.liveness.heartbeat import ensure_heartbeat, is_alive
from worker.store.keyspace import EVENT_LOCK, JOB_LOCK, ROTATION_LOCK
from worker.waiting import poll

__all__ = ["EVENT_LOCK", "JOB_LOCK", "ROTATION_LOCK", "EventLock", "event_lock", "job_lock", "rotation_lock"]

RELEASE_WAIT_SECONDS = 5.0


class TransactionLock(Lock):
    """redis-py's ``Lock`` whose release is WATCH/GET/MULTI/DEL (no scripting needed)."""

    def do_release(self, expected_token: Any) -> None:
        """Delete the lock key only while it still holds our token."""
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(self.name)
                held = pipe.get(self.name)
                token = expected_token.encode() if isinstance(expected_token, str) else expected_token
                if held != token:
                    raise LockNotOwnedError("Cannot release a lock that's no longer owned", lock_name=self.name)
                pipe.multi()
                pipe.delete(self.name)
                pipe.execute()
            except WatchError:
                raise LockNotOwnedError("the lock changed hands while being released", lock_name=self.name) from None


class EventLock(TransactionLock):
    """A lock whose token names its holder, taken over when that holder's heartbeat has stopped."""

    def acquire(self, *_: Any, token: str | None = None, **__: Any) -> bool:
        """Take the lock, or take it over from a dead holder; never waits."""
        mine = token or self.new_token()
        if super().acquire(blocking=False, token=mine):
            return True
        return self._take_over(mine)

    def new_token(self) -> str:
        """A token naming this process as the holder (its heartbeat started, so that others see it alive)."""
        return f"{ensure_heartbeat(self.redis)}|{uuid.uuid4().hex}"

    def take_over(self, token: str) -> bool:
        """Take the lock from a holder whose heartbeat has stopped; False while it lives."""
        return self._take_over(token)

    def holder(self) -> str | None:
        """The ``host:pid`` of the process holding the lock, if any."""
        held = self.redis.get(self.name)
        return held.decode().split("|", 1)[0] if isinstance(held, bytes) else None

    def _take_over(self, token: str) -> bool:
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(self.name)
                held = pipe.get(self.name)
                if held is None:  # released meanwhile: an ordinary acquire may now succeed
                    pipe.reset()
                    return bool(super().acquire(token=token))
                owner = held.decode().split("|", 1)[0] if isinstance(held, bytes) else str(held)
                if is_alive(self.redis, owner):
                    return False
                pipe.multi()
                pipe.set(self.name, token, px=int(self.timeout * 1000) if self.timeout else None)
                pipe.execute()
            except WatchError:
                return False
        self.local.token = token.encode()
        return True


def rotation_lock(client: redis.Redis, name: str, seconds: float) -> Lock:
    """The lock that lets one rotation (or manual ``set``) per token run at a time, across processes."""
    return TransactionLock(client, ROTATION_LOCK + name, timeout=seconds, blocking=False, thread_local=False)


def event_lock(client: redis.Redis, event_id: str, seconds: float) -> Lock:
    """The lock that lets one worker at a time process an event; a dead holder's lock is taken over."""
    return EventLock(client, EVENT_LOCK + event_id, timeout=seconds, blocking=False, thread_local=False)


def job_lock(client: redis.Redis, job: str, seconds: float) -> Lock:
    """The lock that lets one beat job of a kind run at a time, whichever beat scheduled it.

    It names its holder, so a job whose worker was killed is taken over once that worker's heartbeat stops (about
    10 s), rather than blocking its kind until the timeout (the token check's is an hour): found by ``relay chaos``.
    """
    return EventLock(client, JOB_LOCK + job, timeout=seconds, blocking=False, thread_local=False)


def release_quietly(lock: Lock, *, redis_wait: float = RELEASE_WAIT_SECONDS) -> bool:
    """Release ``lock``; False when it had already expired (its holder ran past the timeout) or Redis stayed away.

    Redis restarting is waited for a few seconds: the release runs in ``finally`` blocks, and an error raised
    there would replace the one being handled (a retryable store error turned into an "internal error"; found by
    ``relay chaos``). Past the wait the lock is left to expire.
    """
    released: list[bool] = []

    def settled() -> bool:
        try:
            lock.release()
        except LockError:
            released.append(False)
        except redis.RedisError:
            return False  # Redis away: ask again
        else:
            released.append(True)
        return True

    poll(settled, timeout=redis_wait, interval=0.2)
    return released == [True]
