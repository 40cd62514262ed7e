"""The one redactor: every encoding a secret could take is masked, by the redactor and by each part that asks it."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import httpx
import pytest

from tests.worker.targets.helpers import MutableTokens, Recorder, make_client
from worker.channels.client import check_answer
from worker.config import ChannelConfig
from worker.errors import TargetError
from worker.ops import logs
from worker.redaction import MASK, MIN_SECRET_LENGTH, Secrets, forms, redact

# Every character an encoding changes: '/', '+', '&', '=', a space, a quote, a backslash, non-ASCII.
SECRET = 's3cr3t/with+odd&chars= "quoted" \\ é'
USER = "bot"

ENCODINGS: dict[str, str] = {
    "plain": SECRET,
    "url-encoded (query)": quote(SECRET, safe=""),
    "url-encoded (path)": quote(SECRET),
    "form-encoded": quote_plus(SECRET),
    "basic auth": base64.b64encode(f"{USER}:{SECRET}".encode()).decode(),
    "json-escaped": json.dumps(SECRET)[1:-1],
    "json-escaped (unicode kept)": json.dumps(SECRET, ensure_ascii=False)[1:-1],
}
# Basic auth is no channel's scheme: the other forms are what a channel's server could echo.
CHANNEL_ENCODINGS = {name: text for name, text in ENCODINGS.items() if name != "basic auth"}


def test_each_encoding_is_a_different_text() -> None:
    # Else the table below would prove less than it seems to.
    assert len(set(ENCODINGS.values())) == len(ENCODINGS)


@pytest.mark.parametrize("encoded", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_the_redactor_masks_every_encoding(encoded: str) -> None:
    assert redact(f"server said <{encoded}>", [SECRET], basic_user=USER) == f"server said <{MASK}>"


@pytest.fixture
def registered() -> Iterator[None]:
    saved = logs._secrets
    logs._secrets = Secrets()
    logs.register_secret(SECRET, basic_user=USER)
    yield
    logs._secrets = saved


@pytest.mark.parametrize("encoded", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_a_log_line_masks_every_encoding(encoded: str, registered: None) -> None:
    record = logging.LogRecord("relay", logging.ERROR, __file__, 1, "echo %s", (encoded,), None)
    record.detail = {"nested": [encoded]}

    logs.RedactingFilter().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))

    assert (line["message"], line["detail"]) == (f"echo {MASK}", {"nested": [MASK]})


@pytest.mark.parametrize("encoded", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_a_target_error_masks_every_encoding(encoded: str) -> None:
    answer = httpx.Response(400, text=f"bad credential {encoded}")
    client = make_client(Recorder([answer]), kind="coding", auth="basic", basic_user=USER, tokens=MutableTokens(SECRET))

    with pytest.raises(TargetError) as caught:
        client.call("POST", "/open-api", json={"Action": "X"})

    assert f"bad credential {MASK}" in str(caught.value)
    assert encoded not in str(caught.value)


@pytest.mark.parametrize("encoded", CHANNEL_ENCODINGS.values(), ids=CHANNEL_ENCODINGS.keys())
def test_a_channel_error_masks_every_encoding_of_its_signing_secret(encoded: str) -> None:
    config = ChannelConfig.model_validate(
        {"kind": "webhook", "url": "https://hooks.example.com/relay", "secret": SECRET}
    )
    answer = httpx.Response(400, text=f"bad sign {encoded}")

    with pytest.raises(TargetError) as caught:
        check_answer(config, answer, "channel 'chat' (webhook)")

    assert str(caught.value).endswith(f"bad sign {MASK}")


@pytest.mark.parametrize("encoded", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_a_json_report_masks_every_encoding_at_any_depth(encoded: str) -> None:
    report = {"matched": [{"headers": {"Authorization": f"Basic {encoded}"}, "index": 0, "dry": True}]}

    masked = Secrets([SECRET], basic_user=USER).redact_value(report)

    assert masked == {"matched": [{"headers": {"Authorization": f"Basic {MASK}"}, "index": 0, "dry": True}]}


def test_a_form_containing_another_is_masked_whole() -> None:
    # "abcd" is inside "abcd%2Fefgh": the longer form goes first, so nothing half-masked like "***%2Fefgh" is left.
    assert redact("key=abcd%2Fefgh", ["abcd/efgh", "abcd"]) == f"key={MASK}"


@pytest.mark.parametrize("short", ["", "a", "abc"])
def test_strings_too_short_to_be_secrets_are_not_masked(short: str) -> None:
    assert len(short) < MIN_SECRET_LENGTH
    assert forms(short) == set()
    assert redact("a cat sat", [short]) == "a cat sat"


def test_without_a_user_no_basic_form_is_made() -> None:
    assert ENCODINGS["basic auth"] not in forms(SECRET)
    assert ENCODINGS["basic auth"] in forms(SECRET, basic_user=USER)
