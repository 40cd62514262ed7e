"""uvicorn's httptools protocol with a bound on the request head: past it, 431 and the connection closed.

httptools (llhttp) has no limit of its own: it keeps a header it has not finished reading, however long. This
subclass counts the head as it is read and refuses it once it passes ``max_header_bytes`` (carried to every worker
process in uvicorn's ``h11_max_incomplete_event_size``, the same bound h11 applies): a read that leaves the head
unfinished counts in full, and a finished head that may be past the bound counts its request target and header
lines (headers are not counted one by one: that cost the receiver more than the check is worth). What is buffered
before the refusal is at most the bound plus one read.

Each answer's head is also held until its body follows, so that an answer is one write (one TCP segment) instead
of two: the second write was a tenth of the receiver's CPU time per delivery.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

DEFAULT_MAX_HEAD_BYTES = 64 * 1024
# ": " and CRLF around each header line, the part of its length on_header does not pass.
_HEADER_FRAMING = 4

Phase = Literal["idle", "head", "body"]


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that answers 431 to a request head larger than the configured bound."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        self._phase: Phase = "idle"
        self._messages = 0  # requests begun on this connection: tells a read that began a second one
        # Of the current head, at least what was read of it before the current read (whole reads inside it, or what
        # the parser had passed of it); with the current read's size, at most what it can be.
        self._head_bytes = 0
        self._read_size = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        """Feed the parser; refuse the head when it is still unfinished and already past the bound."""
        if self._refused:
            return
        phase, messages = self._phase, self._messages
        self._read_size = len(data)
        super().data_received(data)
        if self._refused or self._phase != "head":
            return
        # The whole read belongs to the unfinished head when it began inside it, or began between requests and
        # started this one; a read that also finished an earlier (pipelined) request counts what was parsed.
        if (phase == "head" and messages == self._messages) or (phase == "idle" and messages + 1 == self._messages):
            self._head_bytes += len(data)
        else:
            self._head_bytes = self._parsed_bytes()
        if self._head_bytes > self.max_head_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        """A request begins: its head is counted from zero."""
        self._phase, self._messages = "head", self._messages + 1
        self._head_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        """Refuse a finished head past the bound (counted only when this read could hold that much); else serve."""
        self._phase = "body"
        if self._refused:
            return
        if self._head_bytes + self._read_size > self.max_head_bytes and self._parsed_bytes() > self.max_head_bytes:
            self._refuse()
            return
        super().on_headers_complete()
        # The request's task has not run yet: its answer goes out through the holding transport from the start.
        if self.cycle is not None:
            self.cycle.transport = cast(asyncio.Transport, _HeadHeld(self.transport, self.cycle))

    def on_body(self, body: bytes) -> None:
        """Nothing more is read for a refused request."""
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """The request is read; the next one (keep-alive) starts between requests."""
        self._phase = "idle"
        if not self._refused:
            super().on_message_complete()

    def _parsed_bytes(self) -> int:
        """What the parser has passed of the current head: its request target and whole header lines."""
        return len(self.url) + sum(len(name) + len(value) + _HEADER_FRAMING for name, value in self.headers)

    def on_response_complete(self) -> None:
        """An answer is sent; a refusal waiting for the requests before it (pipelined) goes once they are answered."""
        super().on_response_complete()
        if self._refused and not self.pipeline and (self.cycle is None or self.cycle.response_complete):
            self._send_refusal()

    def _refuse(self) -> None:
        self._refused = True
        self.logger.warning("Request head larger than %d bytes: refused.", self.max_head_bytes)
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            self.flow.pause_reading()  # the requests before it are answered first, in order
            return
        self._send_refusal()

    def _send_refusal(self) -> None:
        if self.transport.is_closing():
            return
        # JSON like every other refusal of the receiver's.
        body = b'{"error": "request head larger than %d bytes"}' % self.max_head_bytes
        content = [
            STATUS_LINE[431],
            *(b"".join((name, b": ", value, b"\r\n")) for name, value in self.server_state.default_headers),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(content))
        self.transport.close()


class _HeadHeld:
    """A cycle's transport that holds its answer's head until the first write after it, and writes both at once.

    Only the write made once the answer has started is held (a ``100 Continue`` goes out at once); closing the
    connection writes a held head first. A head whose body never comes (the client left) is dropped with its
    connection.
    """

    __slots__ = ("_cycle", "_head", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle  # until the head is held: the cycle refers to this transport, a loop only GC would free
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        """Hold the answer's head; write anything after it together with it."""
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif self._cycle is not None and self._cycle.response_started:
            self._cycle = None
            self._head = data
        else:
            self._transport.write(data)

    def close(self) -> None:
        """Write a held head, then close."""
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
