"""Logs are JSON lines and never show a secret, even one echoed back in a message or a traceback."""

from __future__ import annotations

import json
import logging
import sys

import pytest
import redis
from cryptography.fernet import Fernet
from pydantic import SecretStr

from worker.config import Settings
from worker.ops import logs
from worker.ops.logs import (
    JsonFormatter,
    RedactingFilter,
    redact,
    register_model_secrets,
    register_secret,
    secret_values,
)
from worker.tokens.keys import parse_keys
from worker.tokens.store import TokenStore

SECRET = "webhook-secret-that-must-never-be-logged"


@pytest.fixture
def log_line() -> logging.Handler:
    handler = logging.Handler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    return handler


def render(handler: logging.Handler, record: logging.LogRecord) -> dict[str, object]:
    assert handler.filter(record)
    line: dict[str, object] = json.loads(handler.format(record))
    return line


def test_a_registered_secret_is_masked_in_message_arguments_and_tracebacks(log_line: logging.Handler) -> None:
    register_secret(SecretStr(SECRET))
    try:
        raise RuntimeError(f"server said: bad key {SECRET}")
    except RuntimeError:
        record = logging.LogRecord(
            "relay", logging.ERROR, __file__, 1, "call failed with %s", (SECRET,), sys.exc_info()
        )

    line = render(log_line, record)

    assert SECRET not in json.dumps(line)
    assert line["message"] == "call failed with ***"
    assert "bad key ***" in str(line["exception"])
    assert line["level"] == "error"


def test_every_secret_of_the_settings_is_registered(log_line: logging.Handler) -> None:
    settings = Settings(
        sources={"gh": {"kind": "github", "secret": "source-secret-0001", "secrets": ["source-secret-0002"]}},
        targets={"gw": {"kind": "api7", "base_url": "http://gw", "token_secret": "target-token-3"}},
        channels={"ops": {"kind": "slack", "url": "https://hooks.example/T0/B0/channel-url-4"}},
    )
    register_model_secrets(settings)
    message = "source-secret-0001 source-secret-0002 target-token-3 https://hooks.example/T0/B0/channel-url-4"

    line = render(log_line, logging.LogRecord("relay", logging.INFO, __file__, 1, message, None, None))

    assert line["message"] == "*** *** *** ***"


def test_secret_values_finds_every_secret_of_the_settings() -> None:
    settings = Settings(
        sources={"gh": {"kind": "github", "secret": "source-secret-0001", "secrets": ["source-secret-0002"]}},
        targets={"gw": {"kind": "api7", "base_url": "http://gw", "token_secret": "target-token-3"}},
        channels={"ops": {"kind": "dingtalk", "url": "https://hooks.example/channel-url-4", "secret": "sign-5"}},
    )

    assert secret_values(settings) == {
        "source-secret-0001", "source-secret-0002", "target-token-3", "https://hooks.example/channel-url-4", "sign-5"
    }  # fmt: skip
    assert secret_values(Settings()) == set()


def test_extra_fields_become_json_keys(log_line: logging.Handler) -> None:
    record = logging.LogRecord("relay.tasks", logging.INFO, __file__, 1, "event done", None, None)
    record.event_id = "evt_1"

    assert render(log_line, record)["event_id"] == "evt_1"


def test_a_token_read_from_the_store_is_masked_from_then_on(fake_redis: redis.Redis) -> None:
    store = TokenStore(fake_redis, parse_keys(Fernet.generate_key().decode(), origin="RELAY_TOKEN_KEY"))
    store.add("prod", "gw", "rotated-token-secret-v2")

    store.current("prod")

    assert redact("server echoed rotated-token-secret-v2") == "server echoed ***"


@pytest.mark.parametrize(
    "secret",
    ['quote"inside-secret', "back\\slash-secret", "caf\u00e9-n\u00e4ive-secret", "\u4e2d\u6587\u5bc6\u94a5-secret"],
)
def test_a_secret_stays_masked_through_json_escaping_of_extra_fields(secret: str) -> None:
    logs.register_secret(secret)
    record = logging.LogRecord("relay", logging.INFO, "", 0, "message %s", (secret,), None)
    record.detail = {"nested": [secret, {"deeper": secret}]}
    record.raw = secret
    logs.RedactingFilter().filter(record)

    line = logs.JsonFormatter().format(record)

    escaped = json.dumps(secret)[1:-1]
    assert secret not in line
    assert escaped not in line
    assert json.loads(line)["detail"] == {"nested": ["***", {"deeper": "***"}]}
