"""Coalescing of the receiver's Redis writes: many concurrent deliveries, one pipeline round trip.

Each delivery still runs its own ingest script, atomically and with its own answer; what is shared is the trip to
Redis. Deliveries that arrive during one turn of the event loop are sent together as one pipeline, which spreads
redis-py's per-command cost (a pooled connection, packing, a round trip) over the whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio


class ScriptBatcher:
    """Runs one Lua script for concurrent callers, one pipeline per event-loop turn (at most ``max_batch``)."""

    def __init__(self, client: redis.asyncio.Redis, script: str, *, max_batch: int = 128) -> None:
        self._client = client
        self._script = client.register_script(script)
        self._max_batch = max_batch
        self._pending: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()  # strong references: the loop only keeps weak ones

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """The script's result for these keys and arguments (or the error Redis gave for this call alone)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if len(self._pending) >= self._max_batch:
            self._flush_now()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush_now)
        return await future

    def _flush_now(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._flush(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for keys, args, _ in batch:
                    await self._script(keys=keys, args=args, client=pipe)
                results = await pipe.execute(raise_on_error=False)
        except (redis.RedisError, OSError) as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away (client disconnect): nothing to tell it
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
