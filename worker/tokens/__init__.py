"""Token lifecycle: the encrypted token store, expiry warnings, the rotation policy and protocol.

See ``worker/tokens/README.md`` for how an operator runs it (keys, metrics, recovery).
"""

from worker.tokens.keys import Cipher, fingerprint, load_cipher
from worker.tokens.records import TokenRecord, TokenStatus
from worker.tokens.source import open_store, token_source
from worker.tokens.store import TokenStore

__all__ = [
    "Cipher",
    "TokenRecord",
    "TokenStatus",
    "TokenStore",
    "fingerprint",
    "load_cipher",
    "open_store",
    "token_source",
]
