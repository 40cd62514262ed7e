"""A smart-HTTP git server for tests and the demo: Debian's ``git http-backend`` behind a token check.

It serves the bare repositories under ``root`` read-only (``git-upload-pack``: clone and fetch; a push is 403)
and demands a token the way GitHub, GitLab, Gitea and CODING accept one over HTTPS: HTTP Basic with the token as
the password (any user name), or ``Authorization: Bearer <token>``. No or a wrong token: 401 with a
``WWW-Authenticate: Basic`` challenge, as those forges answer. A token in ``forbidden`` authenticates but may not
read (403). ``allow_sha_wants=False`` speaks only protocol v0, where ``uploadpack.allowReachableSHA1InWant``
defaults to false, so a fetch of an unadvertised commit id is refused as on a server configured that way.

Each request is recorded as (method, path, query, status, user name): never a header value or a password.
Run standalone: ``GITSERVER_TOKEN=... python -m worker.devtools.sandbox.gitserver --root DIR --port 9418``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
MAX_REQUEST_BYTES = 16 * 1024 * 1024
BACKEND_TIMEOUT = 120


@dataclass(frozen=True)
class GitRequest:
    """One request as recorded: nothing secret."""

    method: str
    path: str
    query: str
    status: int
    user: str | None


@dataclass
class GitServerState:
    """Tokens accepted, tokens that may not read, and what was asked."""

    root: Path
    tokens: set[str]
    forbidden: set[str] = field(default_factory=set)
    allow_sha_wants: bool = True
    latency_seconds: float = 0.0  # a slow server: each answer waits this long (a fault, for timeouts and sampling)
    requests: list[GitRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: GitRequest) -> None:
        """Append to the request log."""
        with self.lock:
            self.requests.append(request)

    def check(self, authorization: str | None) -> tuple[int, str | None]:
        """(200, user), (401, None) for no or a wrong token, (403, user) for a token that may not read."""
        user, token = _credentials(authorization)
        if token is None:
            return 401, None
        with self.lock:
            known = any(hmac.compare_digest(token.encode(), t.encode()) for t in self.tokens | self.forbidden)
            barred = any(hmac.compare_digest(token.encode(), t.encode()) for t in self.forbidden)
        if not known:
            return 401, None
        return (403 if barred else 200), user


def _credentials(authorization: str | None) -> tuple[str | None, str | None]:
    if not authorization:
        return None, None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return None, value.strip() or None
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    # GitHub, GitLab and CODING take the token as the password; Gitea also as the user name with any password.
    return user, password or user or None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: GitServerState) -> None:
        super().__init__(address, _Handler)
        self.state = state


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return  # the request log is the record; stderr lines would carry nothing more

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        if self.server.state.latency_seconds:
            time.sleep(self.server.state.latency_seconds)
        status, user = self.server.state.check(self.headers.get("Authorization"))
        if status == 200 and ("git-receive-pack" in parts.path or "git-receive-pack" in parts.query):
            status = 403  # read-only
        if status != 200:
            self._refuse(status)
        else:
            status = self._backend(parts.path, parts.query, user)
        self.server.state.record(GitRequest(self.command, parts.path, parts.query, status, user))

    def _refuse(self, status: int) -> None:
        body = b"Unauthorized\n" if status == 401 else b"Forbidden\n"
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Relay test git server"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _backend(self, path: str, query: str, user: str | None) -> int:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._refuse(403)
            return 413
        body = self.rfile.read(length) if length else b""
        env = _cgi_env(self.server.state, self.command, path, query, user, self.headers)
        result = subprocess.run(  # noqa: S603 (a fixed executable)
            [HTTP_BACKEND], input=body, env=env, capture_output=True, timeout=BACKEND_TIMEOUT, check=False
        )
        return self._answer(result.stdout)

    def _answer(self, output: bytes) -> int:
        head, _, body = output.partition(b"\r\n\r\n")
        if not _:
            head, _, body = output.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return status


def _cgi_env(
    state: GitServerState, method: str, path: str, query: str, user: str | None, headers: object
) -> dict[str, str]:
    get = getattr(headers, "get")  # noqa: B009 (an email.message.Message)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(state.root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": get("Content-Type") or "",
        "REMOTE_USER": user or "token",
        "REMOTE_ADDR": "127.0.0.1",
    }
    if get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = get("Content-Encoding")
    if state.allow_sha_wants and get("Git-Protocol"):
        env["GIT_PROTOCOL"] = get("Git-Protocol")
    return env


class GitServer:
    """The server on a thread; ``url`` is its root (``<url>/<repo>.git`` clones ``root/<repo>.git``)."""

    def __init__(self, state: GitServerState, host: str = "127.0.0.1", port: int = 0) -> None:
        if not Path(HTTP_BACKEND).exists() or shutil.which("git") is None:
            raise RuntimeError(f"git http-backend not found at {HTTP_BACKEND} (Debian: apt-get install git)")
        self.state = state
        self.httpd = _Server((host, port), state)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> GitServer:
        """Serve on a daemon thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def main() -> None:
    """Serve ``--root`` until interrupted; the token comes from ``GITSERVER_TOKEN`` (never an argument)."""
    parser = argparse.ArgumentParser(description="A git smart-HTTP server that demands a token")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args()
    token = os.environ.get("GITSERVER_TOKEN")
    if not token:
        parser.error("set GITSERVER_TOKEN")
    server = GitServer(GitServerState(options.root, {token}), options.host, options.port)
    print(f"git server on {server.url} serving {options.root}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
