"""The store's key: where it comes from, what a wrong or missing one says, and key rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from worker.errors import TokenError
from worker.tokens.keys import KEY_FILE, ensure_dev_key, fingerprint, load_cipher, parse_keys

SECRET = "a7ee-the-secret-value-0123456789"


def test_missing_key_is_a_clear_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="RELAY_TOKEN_KEY is not set") as raised:
        load_cipher(tmp_path, environ={})
    assert "Fernet" in str(raised.value)


def test_malformed_key_names_its_position_but_never_quotes_it() -> None:
    good = Fernet.generate_key().decode()
    with pytest.raises(TokenError, match="key 2 is not a Fernet key") as raised:
        parse_keys(f"{good},not-a-key-at-all", origin="RELAY_TOKEN_KEY")
    assert "not-a-key-at-all" not in str(raised.value)
    assert good not in str(raised.value)


def test_wrong_key_cannot_decrypt_and_says_so() -> None:
    stored = parse_keys(Fernet.generate_key().decode(), origin="RELAY_TOKEN_KEY").encrypt(SECRET)
    other = parse_keys(Fernet.generate_key().decode(), origin="RELAY_TOKEN_KEY")
    with pytest.raises(TokenError, match=r"token 'gw'.*cannot be decrypted with the key\(s\) in RELAY_TOKEN_KEY"):
        other.decrypt(stored, name="gw")


def test_key_rotation_old_key_still_decrypts_new_key_encrypts() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = parse_keys(old, origin="env").encrypt(SECRET)
    rotated = parse_keys(f"{new},{old}", origin="env")

    assert rotated.decrypt(before, name="gw") == SECRET
    after = rotated.encrypt(SECRET)
    assert parse_keys(new, origin="env").decrypt(after, name="gw") == SECRET
    with pytest.raises(TokenError):
        parse_keys(old, origin="env").decrypt(after, name="gw")
    # rekey: what the old key encrypted, the new key alone can read once re-encrypted
    assert parse_keys(new, origin="env").decrypt(rotated.reencrypt(before, name="gw"), name="gw") == SECRET


def test_environment_wins_over_the_key_file(tmp_path: Path) -> None:
    ensure_dev_key(tmp_path)
    env_key = Fernet.generate_key().decode()
    cipher = load_cipher(tmp_path, environ={"RELAY_TOKEN_KEY": env_key})
    assert cipher.origin == "RELAY_TOKEN_KEY"
    assert load_cipher(tmp_path, environ={}).origin == str(tmp_path / KEY_FILE)


def test_dev_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    created = ensure_dev_key(tmp_path / "data")
    assert created == tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    content = created.read_text()
    assert ensure_dev_key(tmp_path / "data") is None
    assert created.read_text() == content
    load_cipher(tmp_path / "data", environ={})  # a valid key


def test_fingerprint_is_stable_short_and_not_part_of_the_secret() -> None:
    assert fingerprint(SECRET) == fingerprint(SECRET)
    assert len(fingerprint(SECRET)) == 8
    assert fingerprint(SECRET) != fingerprint(SECRET + "x")
    assert fingerprint(SECRET) not in SECRET
    assert fingerprint("abcdefgh-token") != "abcdefgh"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_a_key_file_others_may_read_is_refused_naming_the_fix(tmp_path: Path, mode: int) -> None:
    path = ensure_dev_key(tmp_path)
    assert path is not None
    path.chmod(mode)

    with pytest.raises(TokenError, match=rf"readable or writable by group or others \(mode {mode:o}\): chmod 600"):
        load_cipher(tmp_path, environ={})

    path.chmod(0o600)
    assert load_cipher(tmp_path, environ={}).encrypt("x")
