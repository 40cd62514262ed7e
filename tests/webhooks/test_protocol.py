"""The request-head bound on uvicorn's httptools protocol: reads fed one by one, as the event loop would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from webhooks.protocol import BoundedHttpToolsProtocol

LIMIT = 4096


class _Transport(asyncio.Transport):
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Connection:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.served: list[bytes] = []
        self.loop = loop
        config = Config(
            self._app, interface="asgi3", http="httptools", h11_max_incomplete_event_size=LIMIT, lifespan="off"
        )
        self.transport = _Transport()
        self.protocol = BoundedHttpToolsProtocol(config, ServerState(), {}, _loop=loop)
        self.protocol.connection_made(self.transport)

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.served.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    def feed(self, *reads: bytes) -> None:
        for data in reads:
            self.protocol.data_received(data)
            self.loop.run_until_complete(asyncio.sleep(0.01))  # let the app's task answer


@pytest.fixture
def connection() -> Iterator[_Connection]:
    loop = asyncio.new_event_loop()
    try:
        yield _Connection(loop)
    finally:
        loop.close()


def request(header_bytes: int, body: bytes = b"{}") -> bytes:
    """A POST whose one padding header makes its head about ``header_bytes`` long."""
    head = b"POST /hooks/ci HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n" % len(body)
    padding = max(0, header_bytes - len(head) - len(b"X-Pad: \r\n\r\n"))
    return head + b"X-Pad: " + b"a" * padding + b"\r\n\r\n" + body


def assert_refused(connection: _Connection) -> None:
    assert connection.transport.written.startswith(b"HTTP/1.1 431 ")
    assert b'{"error": "request head larger than 4096 bytes"}' in connection.transport.written
    assert connection.transport.closed
    assert connection.served == []


def test_an_unfinished_head_past_the_bound_is_refused_without_waiting_for_its_end(connection: _Connection) -> None:
    connection.feed(b"POST /hooks/ci HTTP/1.1\r\nX-Big: " + b"a" * LIMIT)

    assert_refused(connection)


def test_a_head_trickled_in_small_reads_is_refused_once_past_the_bound(connection: _Connection) -> None:
    connection.feed(b"POST /hooks/ci HTTP/1.1\r\n")
    for n in range(LIMIT // 100 + 2):
        connection.feed(b"X-H%d: " % n + b"a" * 90 + b"\r\n")

    assert_refused(connection)


def test_a_whole_head_past_the_bound_in_one_read_is_refused_before_the_app(connection: _Connection) -> None:
    connection.feed(request(LIMIT + 200))

    assert_refused(connection)


def test_a_head_within_the_bound_is_served_whatever_the_size_of_its_body(connection: _Connection) -> None:
    body = b"b" * (LIMIT * 4)

    connection.feed(request(LIMIT - 100, body))

    assert connection.served == [body]
    assert connection.transport.written.startswith(b"HTTP/1.1 200 ")
    assert not connection.transport.closed


def test_each_keep_alive_request_has_its_own_bound(connection: _Connection) -> None:
    for _ in range(3):
        connection.feed(request(LIMIT - 100))

    assert len(connection.served) == 3
    assert connection.transport.written.count(b"HTTP/1.1 200 ") == 3


def test_pipelined_requests_in_one_read_are_each_served(connection: _Connection) -> None:
    connection.feed(request(LIMIT - 100) + request(LIMIT - 100) + request(200)[:40])
    connection.feed(request(200)[40:])

    assert len(connection.served) == 3
    assert not connection.transport.closed


def test_a_pipelined_head_past_the_bound_is_refused_after_the_request_before_it(connection: _Connection) -> None:
    connection.feed(request(200) + request(LIMIT + 200))

    assert connection.served == [b"{}"]
    assert b"HTTP/1.1 200 " in connection.transport.written
    assert connection.transport.written.endswith(b'{"error": "request head larger than 4096 bytes"}')
    assert connection.transport.closed


def test_an_answer_is_one_write_its_head_with_its_body(connection: _Connection) -> None:
    for _ in range(2):
        connection.feed(request(200))

    writes = connection.transport.writes
    assert len(writes) == 2
    assert all(write.startswith(b"HTTP/1.1 200 ") and write.endswith(b"\r\n\r\nok") for write in writes)


def test_a_100_continue_is_written_at_once_and_the_answer_after_it(connection: _Connection) -> None:
    head = b"POST /hooks/ci HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"

    connection.feed(head)
    connection.feed(b"{}")

    assert connection.transport.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert connection.transport.writes[1].startswith(b"HTTP/1.1 200 ")
    assert connection.transport.writes[1].endswith(b"ok")
    assert connection.served == [b"{}"]
