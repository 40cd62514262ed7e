"""The baseline server: a bare ASGI hello-world on uvicorn's fastest settings (``python -m`` this module).

The limit of the stack the receiver runs on: httptools and uvloop, no access log, no proxy-headers middleware, as
many processes as the receiver. Not the receiver's own settings, which would hide what they cost.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """The smallest ASGI app that reads the whole body and answers 200."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body"))
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def main(argv: list[str]) -> None:
    """Serve ``app`` on port ``argv[0]`` with ``argv[1]`` processes, on uvicorn's fastest configuration."""
    import uvicorn

    uvicorn.run(
        "worker.devtools.bench.hello:app",
        host="127.0.0.1",
        port=int(argv[0]),
        workers=int(argv[1]) if len(argv) > 1 else 1,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
