"""The channel kinds table: every kind the settings accept has one implementation, with its body, limit and codes."""

from __future__ import annotations

from typing import Any, get_args

import httpx
import pytest

from worker.channels import CHANNEL_KINDS, ChannelKind, kind_of
from worker.config import ChannelKindName

SECRET = "sig-secret"
URL = httpx.URL("https://hooks.example.com/x?access_token=abc")

# kind -> (limit in bytes, retryable codes, where the signature goes: "query", "body" or None)
TABLE: dict[str, tuple[int, frozenset[int], str | None]] = {
    "slack": (40000, frozenset(), None),
    "wecom": (2048, frozenset({-1, 45009, 45033}), None),
    "dingtalk": (20000, frozenset({-1, 130101}), "query"),
    "feishu": (18000, frozenset({11232, 230020}), "body"),
    "webhook": (1 << 20, frozenset(), None),
}


def test_the_table_covers_exactly_the_kinds_the_settings_accept() -> None:
    assert set(CHANNEL_KINDS) == set(get_args(ChannelKindName)) == set(TABLE)


@pytest.mark.parametrize(("name", "row"), sorted(TABLE.items()))
def test_each_kind_has_its_limit_codes_and_signature(name: str, row: tuple[int, frozenset[int], str | None]) -> None:
    limit, retryable, signed_in = row
    kind = kind_of(name)
    assert isinstance(kind, ChannelKind)
    assert kind.name == name
    assert kind.retryable_codes == retryable

    body = kind.body("x" * (limit + 100))
    assert len(str(body).encode()) > limit  # the text is there ...
    assert all(len(text.encode()) <= limit for text in _texts(body))  # ... cut to the kind's limit
    assert any(text.endswith("…") for text in _texts(body))

    url, signed = kind.sign(URL, body, SECRET, 1715680012.0)
    assert ("sign" in url.params) == (signed_in == "query")
    assert ("sign" in signed) == (signed_in == "body")
    assert url.params["access_token"] == "abc"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_only_kinds_with_codes_read_an_error_code(name: str) -> None:
    answer = httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid webhook url"})
    code, message = kind_of(name).error_code(answer)
    if name in ("wecom", "dingtalk", "feishu"):
        assert (code, message) == (93000, "invalid webhook url")
    else:
        assert (code, message) == (None, "")


@pytest.mark.parametrize("answer", [b"not json", b"[1, 2]", b'{"errcode": true}', b'{"errcode": "1"}'])
def test_an_answer_without_an_integer_code_has_none(answer: bytes) -> None:
    assert kind_of("wecom").error_code(httpx.Response(200, content=answer)) == (None, "")


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    return [value] if isinstance(value, str) else []
