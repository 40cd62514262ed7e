"""Redis locks for rotations and periodic jobs: redis-py's ``Lock``, released without Lua.

redis-py releases a lock with a Lua script. The unit tests' fakeredis has no Lua, so the release here is the same
compare-and-delete done with WATCH/MULTI instead: atomic on a real server too, and the code tested is the code run.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.exceptions import LockError, LockNotOwnedError, WatchError
from redis.lock import Lock

ROTATION_LOCK = "relay:lock:token:"
JOB_LOCK = "relay:lock:job:"
EVENT_LOCK = "relay:lock:event:"


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


def rotation_lock(client: redis.Redis, name: str, seconds: float) -> Lock:
    """The lock that lets one rotation (or manual ``set``) per token run at a time, across processes."""
    return TransactionLock(client, ROTATION_LOCK + name, timeout=seconds, blocking=False, thread_local=False)


def event_lock(client: redis.Redis, event_id: str, seconds: float) -> Lock:
    """The lock that lets one worker at a time process an event (duplicate messages are dropped)."""
    return TransactionLock(client, EVENT_LOCK + event_id, timeout=seconds, blocking=False, thread_local=False)


def job_lock(client: redis.Redis, job: str, seconds: float) -> Lock:
    """The lock that lets one beat job of a kind run at a time, whichever beat scheduled it."""
    return TransactionLock(client, JOB_LOCK + job, timeout=seconds, blocking=False, thread_local=False)


def release_quietly(lock: Lock) -> bool:
    """Release ``lock``; False when it had already expired (its holder ran past the timeout)."""
    try:
        lock.release()
    except LockError:
        return False
    return True
