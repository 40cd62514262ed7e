"""The token store's encryption key: Fernet keys from ``RELAY_TOKEN_KEY``, or a development key file.

``RELAY_TOKEN_KEY`` holds one or more comma-separated Fernet keys. The first encrypts; every one of them decrypts
(``MultiFernet``), so the key itself can be rotated: put the new key first, run ``relay tokens rekey``, then drop
the old one. Without the variable, ``<data_dir>/token.key`` is used when it exists: ``relay up`` (development
only) creates it with mode 0600. Production sets ``RELAY_TOKEN_KEY``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from worker.errors import TokenError

TOKEN_KEY_ENV = "RELAY_TOKEN_KEY"  # noqa: S105 (a variable name)
KEY_FILE = "token.key"
GENERATE_HINT = (
    'generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


@dataclass(frozen=True)
class Cipher:
    """Encrypts with the first key, decrypts with any; ``origin`` names where the keys came from, for errors."""

    fernet: MultiFernet
    origin: str
    key_count: int

    def encrypt(self, secret: str) -> bytes:
        """The Fernet token of ``secret``."""
        return self.fernet.encrypt(secret.encode("utf-8"))

    def decrypt(self, data: bytes, *, name: str) -> str:
        """The secret inside ``data``; a clear ``TokenError`` when no configured key opens it."""
        try:
            return self.fernet.decrypt(data).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError):
            raise TokenError(
                f"token {name!r}: the stored secret cannot be decrypted with the key(s) in {self.origin} "
                "(a wrong key, or the key that encrypted it was removed: put the old key back after the new one)"
            ) from None

    def reencrypt(self, data: bytes, *, name: str) -> bytes:
        """``data`` encrypted again with the first key (``MultiFernet.rotate``)."""
        try:
            return self.fernet.rotate(data)
        except InvalidToken:
            raise TokenError(f"token {name!r}: cannot re-encrypt, no key in {self.origin} opens it") from None


def parse_keys(raw: str, *, origin: str) -> Cipher:
    """A cipher from comma-separated Fernet keys."""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise TokenError(f"{origin} holds no key; {GENERATE_HINT}")
    fernets: list[Fernet] = []
    for index, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # The message never quotes the key: it is a secret too.
            raise TokenError(
                f"{origin}: key {index} is not a Fernet key (32 url-safe base64-encoded bytes); {GENERATE_HINT}"
            ) from None
    return Cipher(MultiFernet(fernets), origin, len(fernets))


def load_cipher(data_dir: Path | None = None, *, environ: Mapping[str, str] | None = None) -> Cipher:
    """The cipher from ``RELAY_TOKEN_KEY``, else ``<data_dir>/token.key``; ``TokenError`` naming the variable."""
    env = os.environ if environ is None else environ
    raw = env.get(TOKEN_KEY_ENV, "")
    if raw.strip():
        return parse_keys(raw, origin=TOKEN_KEY_ENV)
    if data_dir is not None:
        path = data_dir / KEY_FILE
        with contextlib.suppress(FileNotFoundError):
            check_private(path)
            return parse_keys(path.read_text(encoding="utf-8"), origin=str(path))
    where = f" and there is no {data_dir / KEY_FILE}" if data_dir is not None else ""
    raise TokenError(
        f"{TOKEN_KEY_ENV} is not set{where}: the token store encrypts secrets with it "
        f"(comma-separated Fernet keys, the first encrypts); {GENERATE_HINT}"
    )


def check_private(path: Path) -> None:
    """Refuse a key file that group or others may read or write: whoever reads it can decrypt every token."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenError(f"{path} is readable or writable by group or others (mode {mode & 0o777:o}): chmod 600 {path}")


def ensure_dev_key(data_dir: Path) -> Path | None:
    """Create ``<data_dir>/token.key`` (mode 0600) when absent, for ``relay up``; the path if it was created."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / KEY_FILE
    try:
        # O_EXCL: two processes starting at once cannot both write a key (one would orphan the other's secrets).
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(Fernet.generate_key().decode() + "\n")
    return path


def fingerprint(secret: str) -> str:
    """8 hex digits of the secret's SHA-256: enough to tell versions apart, nothing about the secret itself."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]
