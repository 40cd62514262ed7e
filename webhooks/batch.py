"""Coalescing of the receiver's Redis writes: many concurrent deliveries, one pipeline round trip.

Each delivery still runs its own ingest script, atomically and with its own answer; what is shared is the trip to
Redis. Deliveries that arrive during one turn of the event loop are sent together as one pipeline, which spreads
redis-py's per-command cost (a pooled connection, packing, a round trip) over the whole batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from hiredis import pack_command
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis.asyncio.connection import AbstractConnection

log = logging.getLogger("relay.webhooks")


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
        # The commands packed by hiredis and written at once on one pooled connection, the replies read in order:
        # redis-py's pipeline does the same with a Python loop over every argument of every command, which cost
        # the receiver more than the rest of its Redis work. Retries and reconnection are the client's own.
        packed = b"".join(pack_command(("EVALSHA", self._sha, len(keys), *keys, *args)) for keys, args, _ in batch)
        pool = self._client.connection_pool
        connection: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            replies: list[Any] = await connection.retry.call_with_retry(
                lambda: _exchange(connection, packed, len(batch)), lambda _error: connection.disconnect()
            )
            return replies
        finally:
            await pool.release(connection)

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
            _fail(batch, exc)
            return
        except Exception as exc:
            # Anything else is a bug; it must not leave the batch's callers waiting forever: each is told, as of a
            # store failure (the sender gets a 503 and retries; nothing was stored by this batch's failed trip).
            log.exception("a batch of %d store calls failed unexpectedly", len(batch))
            _fail(batch, redis.RedisError(f"the store batch failed ({type(exc).__name__})"))
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away (client disconnect): nothing to tell it
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


def _fail(batch: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]], error: BaseException) -> None:
    for *_, future in batch:
        if not future.done():
            future.set_exception(error)


async def _exchange(connection: AbstractConnection, packed: bytes, count: int) -> list[Any]:
    """Send ``count`` packed commands; their replies, an error reply as its exception (the others still read)."""
    await connection.send_packed_command(packed)
    replies: list[Any] = []
    try:
        while len(replies) < count:
            # A wait on the socket goes through redis-py (its timeout, its errors, its disconnect); the replies that
            # came in the same reads are then taken from hiredis's buffer: redis-py's timeout, calls and checks for
            # each reply cost more than the rest of the batch's client side.
            try:
                replies.append(await connection.read_response())
            except redis.ResponseError as exc:
                replies.append(exc)
            replies += await _buffered_replies(connection, count - len(replies))
    except BaseException:
        # Cancelled or cut off mid-batch: the rest of the replies are still on the socket, so the connection
        # cannot go back to the pool as it is.
        await connection.disconnect(nowait=True)
        raise
    return replies


async def _buffered_replies(connection: AbstractConnection, most: int) -> list[Any]:
    """Up to ``most`` whole replies already read from the socket (none with another parser than hiredis's).

    Each as redis-py's ``read_response`` has it: a push notification handed to the parser's handler and skipped,
    an error reply that says the server is not serving (``LOADING``: a connection error) raised, so the batch is
    retried, any other error reply returned as that call's answer.
    """
    parser = connection._parser
    if not isinstance(parser, _AsyncHiredisParser) or parser._reader is None:
        return []
    reader, push = parser._reader, parser._hiredis_PushNotificationType
    replies: list[Any] = []
    while len(replies) < most:
        reply = reader.gets()
        if reply is NOT_ENOUGH_DATA:
            break
        if push is not None and isinstance(reply, push):
            await parser.handle_push_response(reply)
            continue
        if isinstance(reply, redis.ConnectionError):
            raise reply
        if isinstance(reply, list) and reply and isinstance(reply[0], redis.ConnectionError):
            raise reply[0]
        replies.append(reply)
    return replies
