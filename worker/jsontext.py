"""Compact JSON text for what Relay stores and queues: orjson, with the standard library for what orjson refuses.

orjson encodes the same JSON several times faster (the receiver writes a record, a field set and a task message per
delivery), but refuses integers past 64 bits and strings with a lone surrogate, both of which the standard library's
parser gives (for ``{"n": 123456789012345678901}`` or ``["\\ud800"]``): those values are encoded by the standard
library, exactly, as before.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumpb(value: Any) -> bytes:
    """``value`` as compact JSON (UTF-8, no spaces)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # ASCII escapes: a lone surrogate (valid in a JSON escape, not in UTF-8) is written as the escape it came in.
        return json.dumps(value, separators=(",", ":")).encode()


def dumps(value: Any) -> str:
    """``value`` as compact JSON text."""
    return dumpb(value).decode()
