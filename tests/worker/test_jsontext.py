"""Compact JSON for what Relay stores: orjson's text, the standard library's for what orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker import jsontext


@pytest.mark.parametrize(
    "value",
    [
        {"ref": "refs/heads/main", "n": 1, "f": 0.5, "ok": True, "none": None, "list": [1, "two"]},
        {"text": "non-ASCII é 漢字 😀"},
        {"id": 123456789012345678901234567890},  # orjson refuses integers past 64 bits
        {"message": "lone \ud800 surrogate"},  # not UTF-8: orjson refuses it
    ],
)
def test_text_reads_back_as_the_same_value(value: Any) -> None:
    text = jsontext.dumps(value)

    assert json.loads(text) == value
    assert ", " not in text
    assert ": " not in text
    assert jsontext.dumpb(value) == text.encode("utf-8", "surrogatepass")


def test_a_value_json_cannot_hold_is_still_refused() -> None:
    with pytest.raises(TypeError):
        jsontext.dumps({"when": object()})
