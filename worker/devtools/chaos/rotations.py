"""Token rotations during a fault run: an API7 token and a GitLab token, a worker SIGKILLed in the middle of one.

The events' calls use both tokens (target ``sandbox``, API7, and ``lab``, the sandbox's GitLab). The run's
rotation policy makes every token due (``max_age_days`` of seconds) while beat's own check stays an hour away, so
rotations happen when the run sends ``relay.check_tokens`` to the workers: at 0.3 of the run (about when Redis is
first restarted) both tokens rotate; at half, GitLab's rotate call is refused before it acts (a 503) and the worker
running the check is SIGKILLed while it probes the old secret, leaving the token ``rotating`` with its lock held
by a dead process; from 0.62 on, checks are sent until that rotation is settled (the dead holder's lock taken
over, the old secret found working) and the token rotated again. After the run every stored secret must still
work at the sandbox: no token lost.

Token calls are kept out of the run's random faults (a 1 ms delay matches them first), and the random worker kills
wait while a rotation holds its lock: a rotate call answered after the server acted but never stored (a lost
answer, or its process killed in that instant) loses the new secret whatever the design, since it exists nowhere
else yet (Relay then alerts with the recovery steps, tested in tests/worker/tokens). The run is about crashes and
restarts around rotations: the one kill during a rotation is the one above, while the old secret is probed.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import redis

from worker.devtools.chaos.cluster import Cluster
from worker.errors import RelayError
from worker.store.locks import ROTATION_LOCK
from worker.tokens.keys import parse_keys
from worker.tokens.store import TokenStore
from worker.waiting import poll

API7_TOKEN = "chaos-api7"  # noqa: S105 (a token name)
GITLAB_TOKEN = "chaos-gitlab"  # noqa: S105 (a token name)
API7_PREFIX = "/api/settings/tokens"
GITLAB_SELF = "/api/v4/personal_access_tokens/self"
GITLAB_ROTATE = GITLAB_SELF + "/rotate"
LOCK_SECONDS = 12
CHECK_TOKENS = "relay.check_tokens"
# Every token is due for rotation once its secret is this old (about 2.6 s), so each check sent rotates it.
MAX_AGE_DAYS = 0.00003
ROTATION_KINDS = frozenset({"rotated", "rotation-failed", "rotation-lost", "rotation-interrupted", "invalid"})
# Matched before the random faults: token calls only get the faults this module adds on purpose.
SHIELDS = [{"latency_ms": 1, "rate": 1.0, "count": None, "path": API7_PREFIX}, {"latency_ms": 1, "rate": 1.0,
           "count": None, "path": GITLAB_SELF}]  # fmt: skip


@dataclass
class Tokens:
    """Where the run's tokens live: the sandbox, the Relay processes' environment, the token key."""

    sandbox: str
    bootstrap: str
    env: dict[str, str]
    key: str
    faults: list[dict[str, Any]]

    def relay(self, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``relay <args>`` as its own process, with the run's configuration."""
        return subprocess.run(  # noqa: S603 (our interpreter, our arguments)
            [sys.executable, "-m", "worker.cli", *args], input=stdin, env=self.env, capture_output=True,
            text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def set_faults(self, first: list[dict[str, Any]] | None = None) -> None:
        """Replace the sandbox's faults: ``first``, then the shields, then the run's random faults."""
        httpx.delete(f"{self.sandbox}/_sandbox/faults", timeout=5)
        httpx.post(
            f"{self.sandbox}/_sandbox/faults", json=[*(first or []), *SHIELDS, *self.faults], timeout=5
        ).raise_for_status()


def seed(tokens: Tokens) -> None:
    """Create an API7 token and a GitLab token at the sandbox and store them with ``relay tokens add``."""
    expires = int(time.time() + 20 * 86400)
    created = httpx.post(
        f"{tokens.sandbox}{API7_PREFIX}", json={"name": "chaos-rotation", "expires_at": expires},
        headers={"X-API-KEY": tokens.bootstrap}, timeout=5,
    ).json()["value"]  # fmt: skip
    gitlab = httpx.post(
        f"{tokens.sandbox}/_sandbox/forges/gitlab/tokens", json={"name": "chaos", "scopes": ["api"]}, timeout=5
    ).json()
    for name, target, secret, extra in (
        (API7_TOKEN, "sandbox", created["token"], ["--token-id", created["id"]]),
        (GITLAB_TOKEN, "lab", gitlab["token"], []),
    ):
        done = tokens.relay("tokens", "add", name, "--target", target, "--expires-at", "20d", *extra, stdin=secret)
        if done.returncode != 0:
            raise RuntimeError(f"relay tokens add {name} failed: {done.stderr.strip()}")


def rotate_during(cluster: Cluster, tokens: Tokens, duration: float, note: Callable[[str], None]) -> None:
    """The rotation schedule (run on its own thread while the faults run)."""
    started = time.monotonic()

    def at(fraction: float) -> None:
        time.sleep(max(0.0, started + duration * fraction - time.monotonic()))

    at(0.3)
    _check(tokens)
    note("token check sent: both tokens due")
    at(0.5)
    note(_killed_rotation(cluster, tokens))
    at(0.62)
    note(_settle(tokens))


def _check(tokens: Tokens) -> None:
    """Send ``relay.check_tokens`` to the workers (retried while Redis restarts)."""
    from worker.celery_app import private_app
    from worker.config import Settings

    app = private_app(Settings.model_construct(), redis_url=tokens.env["RELAY_REDIS_URL"])
    failures: list[Exception] = []

    def sent() -> bool:
        try:
            app.send_task(CHECK_TOKENS)
        except Exception as exc:  # kombu's and redis' connection errors while Redis restarts
            failures.append(exc)
            return False
        return True

    try:
        if not poll(sent, timeout=20, interval=0.5):
            raise failures[-1]
    finally:
        app.close()


def _killed_rotation(cluster: Cluster, tokens: Tokens) -> str:
    """Refuse GitLab's rotate call before it acts, and SIGKILL the workers while one of them probes the old secret.

    Every worker is killed (as when their machine is lost): the rotation lock does not say which one holds it.
    """
    tokens.set_faults([{"status": 503, "count": 1, "path": GITLAB_ROTATE, "method": "POST"}])
    _check(tokens)
    caught = _wait(lambda: _requests(tokens, GITLAB_ROTATE, 503) and _rotation_held(tokens, GITLAB_TOKEN), 30)
    tokens.set_faults()
    if not caught:
        return f"no worker was caught mid-rotation of {GITLAB_TOKEN}"
    workers = [name for name in cluster.children if name.startswith("worker")]
    for name in workers:
        cluster.restart(name)
    return f"{' and '.join(workers)} SIGKILLed in the middle of rotating {GITLAB_TOKEN}, and restarted"


def _settle(tokens: Tokens) -> str:
    """Send checks until the interrupted rotation is settled and the token rotated again."""
    client = redis.Redis.from_url(tokens.env["RELAY_REDIS_URL"], socket_timeout=5)
    store = TokenStore(client, parse_keys(tokens.key, origin="RELAY_TOKEN_KEY"))

    def rotated_again() -> bool:
        # Each look sends a check, then gives it a few seconds before reading the audit list.
        _check(tokens)
        time.sleep(3)
        with contextlib.suppress(RelayError, redis.RedisError):
            kinds = [entry.kind for entry in store.history(GITLAB_TOKEN, 50)]  # newest first
            interrupted = kinds.index("rotation-interrupted") if "rotation-interrupted" in kinds else -1
            return interrupted > 0 and "rotated" in kinds[:interrupted]
        return False

    try:
        if poll(rotated_again, timeout=LOCK_SECONDS * 4, interval=0):
            return f"{GITLAB_TOKEN}: the interrupted rotation settled, and the token rotated again"
    finally:
        client.close()
    return f"{GITLAB_TOKEN}: the interrupted rotation was not settled within {LOCK_SECONDS * 4}s"


def lost_tokens(tokens: Tokens, redis_url: str) -> list[str]:
    """The tokens whose stored secret the sandbox refuses now."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    store = TokenStore(client, parse_keys(tokens.key, origin="RELAY_TOKEN_KEY"))
    lost = []
    for name, path, header in ((API7_TOKEN, "/api/gateway_groups", "X-API-KEY"), (GITLAB_TOKEN, GITLAB_SELF,
                                                                                  "PRIVATE-TOKEN")):  # fmt: skip
        try:
            secret = store.credential(name).secret.get_secret_value()
        except RelayError:
            lost.append(name)
            continue
        if httpx.get(f"{tokens.sandbox}{path}", headers={header: secret}, timeout=5).status_code != 200:
            lost.append(name)
    client.close()
    return lost


def outcomes(tokens: Tokens, redis_url: str) -> dict[str, list[str]]:
    """Each token's rotation history, oldest first (from its audit list)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    store = TokenStore(client, parse_keys(tokens.key, origin="RELAY_TOKEN_KEY"))
    try:
        return {
            name: [entry.kind for entry in reversed(store.history(name, 100)) if entry.kind in ROTATION_KINDS]
            for name in (API7_TOKEN, GITLAB_TOKEN)
        }
    finally:
        client.close()


def rotating(redis_url: str) -> bool:
    """Whether a rotation of one of the run's tokens holds its lock now (False when Redis cannot tell)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.exists(*(ROTATION_LOCK + name for name in (API7_TOKEN, GITLAB_TOKEN))))
    except redis.RedisError:
        return False
    finally:
        client.close()


def _rotation_held(tokens: Tokens, name: str) -> bool:
    """Whether some process holds the token's rotation lock (the rotation is under way)."""
    client = redis.Redis.from_url(tokens.env["RELAY_REDIS_URL"], socket_timeout=5)
    try:
        return bool(client.exists(ROTATION_LOCK + name))
    finally:
        client.close()


def _requests(tokens: Tokens, path: str, status: int) -> bool:
    records = httpx.get(f"{tokens.sandbox}/_sandbox/requests", params={"path": path, "status": status}, timeout=5)
    return bool(records.json())


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    def holds() -> bool:
        try:
            return condition()
        except httpx.HTTPError:
            return False

    return bool(poll(holds, timeout=timeout, interval=0.1))


def start(cluster: Cluster, tokens: Tokens, duration: float, note: Callable[[str], None]) -> threading.Thread:
    """Run ``rotate_during`` on a thread."""
    thread = threading.Thread(target=rotate_during, args=(cluster, tokens, duration, note), daemon=True)
    thread.start()
    return thread
