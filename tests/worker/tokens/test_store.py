"""The token store over fakeredis: round trip, encryption at rest, versions, the cache, seeding, history."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import redis
from cryptography.fernet import Fernet

from tests.support import FakeClock
from tests.worker.tokens.support import make_settings, new_cipher
from worker.config import TargetConfig
from worker.errors import TokenError
from worker.store.locks import rotation_lock
from worker.targets.client import TargetClient
from worker.targets.tokens import ConfigTokens
from worker.tokens.keys import Cipher, fingerprint, parse_keys
from worker.tokens.records import Origin, TokenStatus
from worker.tokens.source import UnavailableTokens, token_source
from worker.tokens.store import HISTORY_LIMIT, TokenStore, seeds_from_settings

SECRET = "a7ee-first-secret-0123456789abcdef"
NEWER = "a7ee-second-secret-fedcba9876543210"


def every_stored_byte(client: redis.Redis) -> bytes:
    """Every key and value in Redis, whatever its type, as one blob."""
    parts: list[Any] = []
    for key in client.scan_iter():
        parts.append(key)
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                parts += [field, value]
        elif kind == b"list":
            parts += client.lrange(key, 0, -1)
        elif kind == b"set":
            parts += client.smembers(key)
        else:
            raise AssertionError(f"unexpected key type {kind!r}")
    return b"".join(part if isinstance(part, bytes) else str(part).encode() for part in parts)


def test_round_trip(store: TokenStore, clock: FakeClock) -> None:
    record = store.add(
        "gw-token", "gw", SECRET, token_id="tok-1", expires_at=int(clock.now + 86400),
        scopes=["project:depot:rw"], description="release automation",
    )  # fmt: skip

    again = store.get("gw-token")
    assert again == record
    assert (again.version, again.origin, again.status) == (1, Origin.CLI, TokenStatus.OK)
    assert (again.token_id, again.scopes, again.description) == ("tok-1", ["project:depot:rw"], "release automation")
    assert again.fingerprint == fingerprint(SECRET)
    assert store.current("gw-token").secret.get_secret_value() == SECRET
    assert store.names() == ["gw-token"]
    assert [entry.kind for entry in store.history("gw-token")] == ["added"]


def test_the_secret_is_nowhere_in_redis_in_plain_text(store: TokenStore, fake_redis: redis.Redis) -> None:
    store.add("gw-token", "gw", SECRET)
    store.install("gw-token", NEWER, origin=Origin.CLI)
    store.audit("gw-token", "note", "something happened")
    store.seed_all()

    blob = every_stored_byte(fake_redis)
    for secret in (SECRET, NEWER):
        assert secret.encode() not in blob
        assert secret[:12].encode() not in blob  # not even a prefix
    assert fingerprint(NEWER).encode() in blob  # what is shown instead


def test_record_json_never_holds_the_secret(store: TokenStore) -> None:
    record = store.add("gw-token", "gw", SECRET)
    assert SECRET not in str(record.to_json())
    assert "secret" not in record.to_json()


def test_a_wrong_key_is_a_clear_error(fake_redis: redis.Redis, store: TokenStore) -> None:
    store.add("gw-token", "gw", SECRET)
    other = TokenStore(fake_redis, new_cipher())
    with pytest.raises(TokenError, match="cannot be decrypted with the key"):
        other.current("gw-token")
    assert other.get("gw-token").fingerprint == fingerprint(SECRET)  # metadata needs no key


def test_a_missing_key_only_matters_when_a_secret_is_touched(fake_redis: redis.Redis, store: TokenStore) -> None:
    store.add("gw-token", "gw", SECRET)

    def no_key() -> Cipher:
        raise TokenError("RELAY_TOKEN_KEY is not set")

    keyless = TokenStore(fake_redis, no_key)
    assert [record.name for record in keyless.all()] == ["gw-token"]
    with pytest.raises(TokenError, match="RELAY_TOKEN_KEY"):
        keyless.current("gw-token")


def test_key_rotation_with_rekey(fake_redis: redis.Redis) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    TokenStore(fake_redis, parse_keys(old, origin="env")).add("gw-token", "gw", SECRET)
    both = TokenStore(fake_redis, parse_keys(f"{new},{old}", origin="env"))
    assert both.current("gw-token").secret.get_secret_value() == SECRET

    assert both.rekey() == 1
    only_new = TokenStore(fake_redis, parse_keys(new, origin="env"))
    assert only_new.current("gw-token").secret.get_secret_value() == SECRET
    assert only_new.get("gw-token").version == 1  # same secret, same version


def test_install_bumps_the_version_and_current_sees_it_at_once(store: TokenStore, fake_redis: redis.Redis) -> None:
    store.add("gw-token", "gw", SECRET)
    worker_view = TokenStore(fake_redis, store.cipher)  # another process
    assert worker_view.current("gw-token").version == 1

    store.install("gw-token", NEWER, origin=Origin.ROTATION, rotated=True, expires_at=123)

    fresh = worker_view.current("gw-token")
    assert (fresh.version, fresh.secret.get_secret_value()) == (2, NEWER)
    record = store.get("gw-token")
    assert (record.expires_at, record.origin, record.rotated_at is not None) == (123, Origin.ROTATION, True)


def test_current_decrypts_only_when_the_version_changes(store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add("gw-token", "gw", SECRET)
    calls: list[int] = []
    decrypt = Cipher.decrypt

    def counting(self: Cipher, data: bytes, *, name: str) -> str:
        calls.append(1)
        return decrypt(self, data, name=name)

    monkeypatch.setattr(Cipher, "decrypt", counting)
    for _ in range(5):
        store.current("gw-token")
    assert len(calls) == 1
    store.install("gw-token", NEWER, origin=Origin.CLI)
    store.current("gw-token")
    store.current("gw-token")
    assert len(calls) == 2


def test_a_token_removed_and_added_again_is_read_anew(store: TokenStore, fake_redis: redis.Redis) -> None:
    store.add("gw-token", "gw", SECRET)
    worker_view = TokenStore(fake_redis, store.cipher)  # a worker process, with version 1 cached
    assert worker_view.current("gw-token").secret.get_secret_value() == SECRET

    store.remove("gw-token")  # `relay tokens remove` then `add` in another process: version 1 again
    store.add("gw-token", "gw", NEWER)

    fresh = worker_view.current("gw-token")
    assert (fresh.version, fresh.secret.get_secret_value()) == (1, NEWER)


def test_a_token_removed_and_seeded_again_is_read_anew(fake_redis: redis.Redis, cipher: Cipher) -> None:
    def store_for(secret: str) -> TokenStore:
        settings = make_settings(targets={"gw": {"kind": "api7", "base_url": "http://x.test", "token_secret": secret}})
        return TokenStore(fake_redis, cipher, seeds=seeds_from_settings(settings))

    worker_view = store_for(SECRET)
    assert worker_view.current("gw").secret.get_secret_value() == SECRET
    operator = store_for(NEWER)  # the configuration changed, and the token was removed to take it
    operator.remove("gw")
    assert operator.seed_all() == ["gw"]

    fresh = worker_view.current("gw")
    assert (fresh.version, fresh.secret.get_secret_value()) == (1, NEWER)


def test_a_401_after_remove_and_add_is_retried_with_the_new_secret(store: TokenStore, fake_redis: redis.Redis) -> None:
    store.add("gw-token", "gw", SECRET)
    worker_view = TokenStore(fake_redis, store.cipher)
    sent: list[str | None] = []

    def api(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("X-API-KEY"))
        if len(sent) == 1:
            # Replaced while this call was in flight: the old secret is dead, the new one has version 1 too.
            store.remove("gw-token")
            store.add("gw-token", "gw", NEWER)
        return httpx.Response(200) if sent[-1] == NEWER else httpx.Response(401)

    target = TargetConfig.model_validate({"kind": "api7", "base_url": "http://gw.test"})
    client = TargetClient("gw", target, worker_view, token_name="gw-token", transport=httpx.MockTransport(api))

    assert client.call("GET", "/x").status_code == 200
    assert sent == [SECRET, NEWER]


def test_expected_version_guards_install(store: TokenStore) -> None:
    store.add("gw-token", "gw", SECRET)
    store.install("gw-token", NEWER, origin=Origin.CLI)
    with pytest.raises(TokenError, match="changed meanwhile"):
        store.install("gw-token", "a7ee-third", origin=Origin.CLI, expected_version=1)


def test_adding_twice_is_refused(store: TokenStore) -> None:
    store.add("gw-token", "gw", SECRET)
    with pytest.raises(TokenError, match="already exists"):
        store.add("gw-token", "gw", NEWER)


@pytest.mark.parametrize("name", ["", "a:b", "a*", "-lead", "x" * 65, "a b"])
def test_names_that_could_break_keys_are_refused(store: TokenStore, name: str) -> None:
    with pytest.raises(TokenError, match="token name"):
        store.add(name, "gw", SECRET)


def test_seeding_stores_the_configured_secret_once(fake_redis: redis.Redis, cipher: Cipher) -> None:
    settings = make_settings(targets={"gw": {"kind": "api7", "base_url": "http://x.test", "token_secret": SECRET}})
    store = TokenStore(fake_redis, cipher, seeds=seeds_from_settings(settings))

    assert store.seed_all() == ["gw"]
    assert store.seed_all() == []
    record = store.get("gw")
    assert (record.version, record.origin, record.target) == (1, Origin.CONFIG, "gw")
    assert store.current("gw").secret.get_secret_value() == SECRET


def test_seeding_never_overwrites_a_rotated_secret(fake_redis: redis.Redis, cipher: Cipher) -> None:
    settings = make_settings(targets={"gw": {"kind": "api7", "base_url": "http://x.test", "token_secret": SECRET}})
    store = TokenStore(fake_redis, cipher, seeds=seeds_from_settings(settings))
    store.seed_all()
    store.install("gw", NEWER, origin=Origin.ROTATION, rotated=True)

    restarted = TokenStore(fake_redis, cipher, seeds=seeds_from_settings(settings))
    assert restarted.seed_all() == []
    assert restarted.current("gw").secret.get_secret_value() == NEWER


def test_a_changed_token_secret_reseeds_only_while_nothing_newer_replaced_it(
    fake_redis: redis.Redis, cipher: Cipher
) -> None:
    def store_for(secret: str) -> TokenStore:
        settings = make_settings(targets={"gw": {"kind": "api7", "base_url": "http://x.test", "token_secret": secret}})
        return TokenStore(fake_redis, cipher, seeds=seeds_from_settings(settings))

    store_for(SECRET).seed_all()
    assert store_for(NEWER).seed_all() == ["gw"]  # the operator edited the configuration
    assert store_for(NEWER).current("gw").version == 2
    store_for(NEWER).install("gw", "a7ee-by-hand", origin=Origin.CLI)
    assert store_for("a7ee-yet-another").seed_all() == []
    assert store_for("a7ee-yet-another").current("gw").secret.get_secret_value() == "a7ee-by-hand"


def test_current_seeds_a_missing_token_lazily(fake_redis: redis.Redis, cipher: Cipher) -> None:
    settings = make_settings(targets={"gw": {"kind": "api7", "base_url": "http://x.test", "token_secret": SECRET}})
    store = TokenStore(fake_redis, cipher, seeds=seeds_from_settings(settings))
    assert store.current("gw").secret.get_secret_value() == SECRET
    with pytest.raises(TokenError, match="no secret stored or configured"):
        store.current("other")


def test_remove_deletes_the_record_history_and_markers(store: TokenStore, fake_redis: redis.Redis) -> None:
    store.add("gw-token", "gw", SECRET)
    store.add("gw-token2", "gw", NEWER)
    fake_redis.set("relay:token:gw-token:sent:v1:warn-7d:audit", "1")

    assert store.remove("gw-token") is True
    assert store.find("gw-token") is None
    assert store.history("gw-token") == []
    assert sorted(key.decode() for key in fake_redis.scan_iter("relay:token:*")) == [
        "relay:token:gw-token2",
        "relay:token:gw-token2:history",
    ]
    assert store.remove("gw-token") is False


def test_history_is_capped_newest_first(store: TokenStore) -> None:
    store.add("gw-token", "gw", SECRET)
    for index in range(HISTORY_LIMIT + 10):
        store.audit("gw-token", "note", f"entry {index}")
    entries = store.history("gw-token", limit=HISTORY_LIMIT + 50)
    assert len(entries) == HISTORY_LIMIT
    assert entries[0].message == f"entry {HISTORY_LIMIT + 9}"


def test_current_waits_for_a_running_rotation(
    store: TokenStore, fake_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add("gw-token", "gw", SECRET)
    lock = rotation_lock(fake_redis, "gw-token", 30)
    assert lock.acquire()
    store.set_status("gw-token", TokenStatus.ROTATING)
    waiting = threading.Event()
    running = store.rotation_running

    def seen_running(name: str) -> bool:
        # ``current`` asks this only from its wait loop: once it answered True, ``current`` is waiting.
        answer = running(name)
        if answer:
            waiting.set()
        return answer

    monkeypatch.setattr(store, "rotation_running", seen_running)
    installed: list[bool] = []

    def finish() -> None:
        # The rotation ends only once ``current`` is waiting for it, however slow the main thread is.
        if waiting.wait(timeout=10):
            store.install("gw-token", NEWER, origin=Origin.ROTATION, rotated=True)
            installed.append(True)
        lock.release()

    thread = threading.Thread(target=finish)
    thread.start()
    credential = store.current("gw-token")
    thread.join()
    assert waiting.is_set(), "current() did not wait for the rotation"
    assert installed == [True]
    assert (credential.version, credential.secret.get_secret_value()) == (2, NEWER)


def test_a_stale_rotating_mark_without_its_lock_does_not_block(store: TokenStore) -> None:
    store.add("gw-token", "gw", SECRET)
    store.set_status("gw-token", TokenStatus.ROTATING)
    started = time.monotonic()
    assert store.current("gw-token").version == 1
    assert time.monotonic() - started < 1


def test_update_never_touches_identity_fields(store: TokenStore) -> None:
    store.add("gw-token", "gw", SECRET)
    with pytest.raises(ValueError, match="version"):
        store.update("gw-token", version=9)
    assert store.update("gw-token", expected_version=7, description="x") is None
    updated = store.update("gw-token", description="x")
    assert updated is not None
    assert updated.description == "x"


def test_runtime_source_uses_the_store_with_a_key(
    fake_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    settings = make_settings(
        data_dir=str(tmp_path),
        targets={"gw": {"kind": "api7", "base_url": "http://x.test", "token_secret": SECRET}},
    )
    monkeypatch.setenv("RELAY_TOKEN_KEY", Fernet.generate_key().decode())
    source = token_source(settings, fake_redis)
    assert isinstance(source, TokenStore)
    assert source.find("gw") is not None  # seeded at start


def test_runtime_source_without_a_key_falls_back_only_while_the_store_is_empty(
    fake_redis: redis.Redis, tmp_path: Any
) -> None:
    settings = make_settings(
        data_dir=str(tmp_path),
        targets={"gw": {"kind": "api7", "base_url": "http://x.test", "token_secret": SECRET}},
    )
    assert isinstance(token_source(settings, fake_redis), ConfigTokens)

    TokenStore(fake_redis, new_cipher()).add("gw", "gw", NEWER)
    source = token_source(settings, fake_redis)
    assert isinstance(source, UnavailableTokens)
    with pytest.raises(TokenError, match="RELAY_TOKEN_KEY"):
        source.current("gw")
