"""Receiver benchmark: ``python -m webhooks.bench``.

Serves a bare ASGI hello-world and then the real receiver (one uvicorn process each, on loopback), drives both
with the same keep-alive load generator, and prints deliveries per second, latency and the ratio. Every
delivery to the receiver is unique, GitHub-signed, verified, deduplicated, stored and queued in Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from worker.redis import EmbeddedRedis, free_port

SECRET = "bench-secret-0123456789"  # noqa: S105 (a throwaway secret for a local benchmark)


async def hello_app(scope: dict[str, object], receive: Callable[..., object], send: Callable[..., object]) -> None:
    """The baseline: the smallest ASGI app that reads the body and answers 200."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()  # type: ignore[misc]
        more = bool(message.get("more_body"))
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[misc]
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[misc]


def signed_requests(count: int, port: int) -> list[bytes]:
    """``count`` distinct raw HTTP/1.1 requests, each a GitHub push delivery with its own id and signature."""
    requests = []
    for number in range(count):
        body = json.dumps({"ref": "refs/heads/main", "after": f"{number:040x}", "repository": {"id": 1}}).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        head = (
            f"POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: push\r\nX-GitHub-Delivery: bench-{os.getpid()}-{number}\r\n"
            f"X-Hub-Signature-256: sha256={signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


@dataclass
class Result:
    """Throughput and latency of one run."""

    requests: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        """A latency percentile in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


async def _connection(port: int, queue: list[bytes], result: Result) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - started)
            status = int(status_line.split()[1])
            result.statuses[status] = result.statuses.get(status, 0) + 1
    finally:
        writer.close()


async def drive(port: int, requests: list[bytes], concurrency: int) -> Result:
    """Send every request over ``concurrency`` keep-alive connections."""
    queue = list(reversed(requests))
    result = Result(len(requests), 0.0, [], {})
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, queue, result) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def serve(target: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start uvicorn for ``target`` (an import string) and wait until it answers."""
    process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
        [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{target} did not start: {process.stderr.read().decode() if process.stderr else ''}")


def report(name: str, result: Result) -> None:
    """One line of figures."""
    print(
        f"{name:<22} {result.rate:>9.0f} req/s   p50 {result.percentile(0.50):6.2f} ms   "
        f"p99 {result.percentile(0.99):6.2f} ms   statuses {dict(sorted(result.statuses.items()))}"
    )


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--redis-url", help="use this Redis (default: an embedded one in a temporary directory)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        embedded = None if args.redis_url else EmbeddedRedis(Path(tmp) / "redis").start()
        redis_url = args.redis_url or (embedded.url if embedded else "")
        config = Path(tmp) / "relay.yaml"
        config.write_text(f"sources:\n  github: {{kind: github, secret: {SECRET}}}\n", encoding="utf-8")
        env = {**os.environ, "RELAY_CONFIG": str(config), "RELAY_REDIS_URL": redis_url}
        try:
            figures = {}
            for name, target in (("hello-world ASGI", "webhooks.bench:hello_app"), ("receiver", "webhooks.asgi:app")):
                port = free_port()
                server = serve(target, port, env)
                try:
                    warmup = signed_requests(200, port)
                    asyncio.run(drive(port, [r.replace(b"bench-", b"warm-") for r in warmup], args.concurrency))
                    figures[name] = asyncio.run(drive(port, signed_requests(args.requests, port), args.concurrency))
                finally:
                    server.terminate()
                    server.wait()
                report(name, figures[name])
            ratio = figures["receiver"].rate / figures["hello-world ASGI"].rate
            print(f"receiver / hello-world: {ratio:.0%} (goal: at least 40%)")
        finally:
            if embedded:
                embedded.stop()


if __name__ == "__main__":
    main()
