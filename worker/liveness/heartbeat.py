"""Liveness that dies with the process: each process that holds work keeps a short-lived key alive.

    relay:alive:<owner>     string: the process's start time; expires ``TTL_SECONDS`` after the last beat;
                            ``owner`` is ``host:pid``

A daemon thread refreshes the key every ``INTERVAL_SECONDS``. A process that is SIGKILLed, OOM-killed or whose
machine vanishes stops beating, and within ``TTL_SECONDS`` its key is gone: the event lock (``worker.store.locks``) lets
another run take over an event whose holder is dead, and the recovery job (``worker.liveness.recovery``) hands a dead
worker's delivered messages back to the queue instead of waiting for the broker's visibility timeout.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import redis

from worker.store.keyspace import ALIVE_KEY, alive_key

__all__ = ["ALIVE_KEY", "Heartbeat", "alive_owners", "ensure_heartbeat", "is_alive", "owner_id", "stop_heartbeat"]
TTL_SECONDS = 10
INTERVAL_SECONDS = 2.0

log = logging.getLogger("relay.heartbeat")


def owner_id(pid: int | None = None) -> str:
    """This process's name as a holder of work: ``hostname:pid``."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def is_alive(client: redis.Redis, owner: str) -> bool:
    """Whether ``owner`` has beaten within the last ``TTL_SECONDS``."""
    return bool(client.exists(alive_key(owner)))


def alive_owners(client: redis.Redis, owners: list[str]) -> set[str]:
    """The subset of ``owners`` still beating (one round trip)."""
    if not owners:
        return set()
    with client.pipeline(transaction=False) as pipe:
        for owner in owners:
            pipe.exists(alive_key(owner))
        found = pipe.execute()
    return {owner for owner, exists in zip(owners, found, strict=True) if exists}


class Heartbeat:
    """A daemon thread that keeps ``relay:alive:<owner>`` alive while this process lives."""

    def __init__(self, client: redis.Redis, owner: str | None = None) -> None:
        self.client = client
        self.owner = owner or owner_id()
        self.started_at = time.time()  # the key's value: ``relay status`` says "starting" for a young worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        """Beat once now (so the owner is alive before it takes any work), then keep beating."""
        self.beat()
        self._thread.start()
        return self

    def beat(self) -> None:
        """Refresh the key; a Redis hiccup is logged and the next beat tries again."""
        try:
            self.client.set(alive_key(self.owner), repr(self.started_at), ex=TTL_SECONDS)
        except redis.RedisError as exc:
            log.warning("heartbeat of %s failed (%s); retrying", self.owner, type(exc).__name__)

    def stop(self) -> None:
        """Stop beating and remove the key: a clean exit holds nothing."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=INTERVAL_SECONDS * 2)
        try:
            self.client.delete(alive_key(self.owner))
        except redis.RedisError:
            log.debug("heartbeat key of %s left to expire", self.owner)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_SECONDS):
            self.beat()


# One heartbeat per process and Redis server it uses (a process normally uses one; tests use many).
_beating: dict[tuple[int, int], Heartbeat] = {}
_beating_lock = threading.Lock()


def ensure_heartbeat(client: redis.Redis) -> str:
    """Start this process's heartbeat on first use (a forked child starts its own); returns the owner id."""
    key = (os.getpid(), id(client.connection_pool))
    with _beating_lock:
        heartbeat = _beating.get(key)
        if heartbeat is None:
            heartbeat = _beating[key] = Heartbeat(client, owner_id(key[0])).start()
    return heartbeat.owner


def stop_heartbeat() -> None:
    """Stop this process's heartbeats, if it has any."""
    pid = os.getpid()
    with _beating_lock:
        mine = [_beating.pop(key) for key in list(_beating) if key[0] == pid]
    for heartbeat in mine:
        heartbeat.stop()
