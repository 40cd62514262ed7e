"""The built-in load generator: pre-signed unique GitHub deliveries over keep-alive connections, flat out or paced."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SignedRequest:
    """One raw HTTP/1.1 request and its delivery id."""

    delivery_id: str
    raw: bytes


def signed_body(number: int) -> bytes:
    """A small GitHub push payload, distinct per ``number``."""
    return json.dumps(
        {"ref": "refs/heads/main", "after": f"{number:040x}", "repository": {"id": 1, "full_name": "acme/bench"}},
        separators=(",", ":"),
    ).encode()


def signed_headers(secret: str, body: bytes, delivery_id: str) -> dict[str, str]:
    """The headers GitHub sends with ``body``, signed with ``secret``."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": f"sha256={signature}",
    }


def signed_requests(count: int, port: int, secret: str, *, path: str = "/hooks/github") -> list[SignedRequest]:
    """``count`` distinct raw requests, each with its own delivery id and signature."""
    run = uuid.uuid4().hex[:12]
    out = []
    for number in range(count):
        body = signed_body(number)
        delivery_id = f"bench-{run}-{number}"
        lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in signed_headers(secret, body, delivery_id).items()]
        out.append(SignedRequest(delivery_id, ("\r\n".join(lines) + "\r\n\r\n").encode() + body))
    return out


@dataclass
class Result:
    """What one drive measured: per request its send time, latency, status and answer body."""

    seconds: float = 0.0
    sent_at: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Answers 202 (stored as new) or 200 (the hello-world's and duplicates')."""
        return self.statuses.get(202, 0) + self.statuses.get(200, 0)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[int, bytes]:
    writer.write(raw)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return int(status_line.split()[1]), await reader.readexactly(length)


async def _connection(port: int, queue: list[SignedRequest], result: Result, pace: _Pace | None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while queue:
            delivery = queue.pop()
            if pace is not None:
                await pace.wait()
            wall, started = time.time(), time.perf_counter()
            status, body = await _exchange(reader, writer, delivery.raw)
            result.latencies.append(time.perf_counter() - started)
            result.sent_at.append(wall)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.bodies.append(body)
    finally:
        writer.close()


class _Pace:
    """Hands out send slots at a fixed rate (open loop: a slow answer does not delay the next slot)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.perf_counter()

    async def wait(self) -> None:
        slot = self.next
        self.next += self.interval
        delay = slot - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


async def drive(port: int, requests: list[SignedRequest], *, concurrency: int, rate: float | None = None) -> Result:
    """Send every request over ``concurrency`` keep-alive connections, flat out or at ``rate`` per second."""
    queue = list(reversed(requests))
    result = Result()
    pace = _Pace(rate) if rate else None
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, queue, result, pace) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def run_drive(port: int, requests: list[SignedRequest], *, concurrency: int, rate: float | None = None) -> Result:
    """``drive`` on a fresh event loop."""
    return asyncio.run(drive(port, requests, concurrency=concurrency, rate=rate))


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``values`` (nearest rank), in the values' unit; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
