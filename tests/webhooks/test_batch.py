"""The write coalescer on real Redis: one pipeline for concurrent callers, each with its own answer or error."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from webhooks.batch import ScriptBatcher

ECHO_OR_FAIL = """
if ARGV[1] == 'bad' then return redis.error_reply('refused ' .. KEYS[1]) end
redis.call('INCR', KEYS[1])
return ARGV[1]
"""


def run_batch(redis_url: str, calls: list[tuple[str, str]]) -> tuple[list[Any], int]:
    """Run the calls concurrently; the results (or errors) in order, and how many writes to Redis carried them."""

    async def main() -> tuple[list[Any], int]:
        client = redis.asyncio.Redis.from_url(redis_url)
        await client.script_load(ECHO_OR_FAIL)  # the batcher's own SCRIPT LOAD is not one of the writes counted
        writes = 0
        pool = client.connection_pool
        borrow = pool.get_connection

        async def counting_connection(*args: Any, **kwargs: Any) -> Any:
            connection = await borrow(*args, **kwargs)  # type: ignore[no-untyped-call]
            if getattr(connection, "counted", False):
                return connection
            connection.counted = True
            send = connection.send_packed_command

            async def counting_send(*send_args: Any, **send_kwargs: Any) -> None:
                nonlocal writes
                writes += 1
                await send(*send_args, **send_kwargs)

            connection.send_packed_command = counting_send
            return connection

        pool.get_connection = counting_connection  # type: ignore[method-assign]
        batcher = ScriptBatcher(client, ECHO_OR_FAIL)
        batcher._loaded = True
        try:
            results = await asyncio.gather(*(batcher([key], [value]) for key, value in calls), return_exceptions=True)
        finally:
            await client.aclose()
        return results, writes

    return asyncio.run(main())


def test_concurrent_calls_share_one_write_and_get_their_own_results(redis_url: str, redis_client: redis.Redis) -> None:
    calls = [(f"k{n}", f"v{n}") for n in range(50)]

    results, writes = run_batch(redis_url, calls)

    assert results == [value.encode() for _, value in calls]
    assert writes == 1
    assert all(redis_client.get(key) == b"1" for key, _ in calls)


def test_one_failing_call_fails_alone(redis_url: str, redis_client: redis.Redis) -> None:
    results, _ = run_batch(redis_url, [("a", "ok"), ("b", "bad"), ("c", "ok")])

    assert results[0] == b"ok"
    assert results[2] == b"ok"
    assert isinstance(results[1], redis.ResponseError)
    assert "refused b" in str(results[1])
    assert redis_client.get("b") is None


def test_a_batch_never_exceeds_its_limit(redis_url: str) -> None:
    async def main() -> int:
        client = redis.asyncio.Redis.from_url(redis_url)
        batcher = ScriptBatcher(client, ECHO_OR_FAIL, max_batch=8)
        sizes: list[int] = []
        flush = batcher._flush

        async def measured(batch: list[Any]) -> None:
            sizes.append(len(batch))
            await flush(batch)

        batcher._flush = measured  # type: ignore[method-assign]
        await asyncio.gather(*(batcher([f"k{n}"], ["v"]) for n in range(20)))
        await client.aclose()
        return max(sizes)

    assert asyncio.run(main()) == 8


def test_redis_down_fails_every_caller_with_a_redis_error() -> None:
    async def main() -> list[Any]:
        client = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
        batcher = ScriptBatcher(client, ECHO_OR_FAIL)
        results = await asyncio.gather(batcher(["a"], ["x"]), batcher(["b"], ["y"]), return_exceptions=True)
        await client.aclose()
        return list(results)

    results = asyncio.run(main())

    assert len(results) == 2
    for result in results:
        assert isinstance(result, redis.ConnectionError)


def test_a_redis_that_lost_its_scripts_gets_the_script_again_and_each_call_runs_once(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        client = redis.asyncio.Redis.from_url(redis_url)
        batcher = ScriptBatcher(client, ECHO_OR_FAIL)
        try:
            first = await asyncio.gather(*(batcher([f"a{n}"], ["x"]) for n in range(5)))
            await client.script_flush()  # as a restarted Redis without the script would answer: NOSCRIPT
            second = await asyncio.gather(*(batcher([f"b{n}"], ["y"]) for n in range(5)))
        finally:
            await client.aclose()
        return list(first), list(second)

    first, second = asyncio.run(main())

    assert first == [b"x"] * 5
    assert second == [b"y"] * 5
    assert all(redis_client.get(f"b{n}") == b"1" for n in range(5))  # run once each, not again after the reload


def test_a_server_still_loading_mid_batch_has_the_whole_batch_sent_again() -> None:
    # One read holds the batch's three replies, the second a LOADING error: redis-py raises that one (the server is
    # not serving), so the batch is sent again on a new connection, as when each reply was read through redis-py.
    answers = [
        b"$1\r\na\r\n-LOADING Redis is loading the dataset in memory\r\n$1\r\nc\r\n",
        b"$1\r\nA\r\n$1\r\nB\r\n$1\r\nC\r\n",
    ]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        scripts = 0
        while line := await reader.readline():  # RESP commands: an array of bulk strings each
            command = [await reader.readexactly(int((await reader.readline())[1:]) + 2) for _ in range(int(line[1:]))]
            if command[0] != b"EVALSHA\r\n":
                writer.write(b"+OK\r\n")  # the connection's own set-up (CLIENT SETINFO)
                continue
            scripts += 1
            if scripts == 3:
                writer.write(answers.pop(0))
        writer.close()

    async def main() -> list[Any]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = redis.asyncio.Redis(port=port, protocol=2, retry=Retry(NoBackoff(), 1))
        batcher = ScriptBatcher(client, ECHO_OR_FAIL)
        batcher._loaded = True
        try:
            return list(await asyncio.gather(*(batcher([key], ["v"]) for key in "abc"), return_exceptions=True))
        finally:
            await client.aclose()
            server.close()

    assert asyncio.run(main()) == [b"A", b"B", b"C"]
    assert answers == []


def test_a_batch_failing_for_any_other_reason_tells_every_caller_instead_of_leaving_it_waiting(
    redis_url: str,
) -> None:
    async def main() -> list[Any]:
        client = redis.asyncio.Redis.from_url(redis_url)
        batcher = ScriptBatcher(client, ECHO_OR_FAIL)

        async def broken(*_: Any) -> list[Any]:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")  # a bug, not Redis

        batcher._run_loaded = broken  # type: ignore[method-assign,assignment]
        try:
            calls = (batcher([f"k{n}"], ["v"]) for n in range(3))
            return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=5)
        finally:
            await client.aclose()

    results = asyncio.run(main())

    assert [type(result) for result in results] == [redis.RedisError] * 3
    assert all("the store batch failed (UnicodeEncodeError)" in str(result) for result in results)
