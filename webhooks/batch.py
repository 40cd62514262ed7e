"""Coalescing of the receiver's Redis writes: many concurrent deliveries, one pipeline round trip.

Each delivery still runs its own ingest script, atomically and with its own answer; what is shared is the trip to
Redis. Deliveries that arrive during one turn of the event loop are sent together as one pipeline, which spreads
redis-py's per-command cost (a pooled connection, packing, a round trip) over the whole batch.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio


class ScriptBatcher:
    """Runs one Lua script for concurrent callers, one pipeline per event-loop turn (at most ``max_batch``)."""

    def __init__(self, client: redis.asyncio.Redis, script: str, *, max_batch: int = 128) -> None:
        self._client = client
        # EVALSHA of a hash computed once; loaded on the first NOSCRIPT (redis-py's Script in a pipeline would send
        # SCRIPT EXISTS before every batch, a second round trip per batch).
        self._script = script
        self._sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._loaded = False
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

    async def _run(self, batch: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]]) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(self._sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))

    async def _run_loaded(self, batch: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]]) -> list[Any]:
        """Results of the batch; calls answered NOSCRIPT (which ran nothing) are run again after SCRIPT LOAD."""
        if not self._loaded:
            await self._client.script_load(self._script)
            self._loaded = True
        results = await self._run(batch)
        missing = [i for i, result in enumerate(results) if isinstance(result, redis.exceptions.NoScriptError)]
        if missing:
            await self._client.script_load(self._script)  # a restarted or flushed Redis: load it again
            again = await self._run([batch[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return results

    async def _flush(self, batch: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]]) -> None:
        try:
            results = await self._run_loaded(batch)
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
