"""The receiver's task message is the one kombu would publish, so a real worker consumes it."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
import redis

from worker.celery_app import EVENTS_QUEUE, PROCESS_EVENT, app, private_app
from worker.config import load_settings
from worker.store.messages import MESSAGE_VERSION, MESSAGE_VERSION_HEADER, TaskMessageEncoder


def _decode(raw: bytes) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(raw)
    message["decoded_body"] = json.loads(base64.b64decode(message["body"]))
    return message


@pytest.mark.parametrize("encoder_app", ["global", "private"])
def test_encoded_message_matches_celerys_own(
    redis_client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch, encoder_app: str
) -> None:
    # Built before RELAY_REDIS_URL is set: the private app needs nothing but what it is given.
    private = TaskMessageEncoder(private_app(load_settings(), redis_url=redis_url), PROCESS_EVENT, EVENTS_QUEUE)
    monkeypatch.setenv("RELAY_REDIS_URL", redis_url)
    encoder = private if encoder_app == "private" else TaskMessageEncoder(app, PROCESS_EVENT, EVENTS_QUEUE)
    with app.connection_for_write(redis_url) as connection:
        app.send_task(PROCESS_EVENT, args=["evt_1"], queue=EVENTS_QUEUE, connection=connection)
    celerys = _decode(redis_client.rpop(EVENTS_QUEUE))  # type: ignore[arg-type]
    ours = _decode(encoder.encode("evt_1"))

    assert ours["decoded_body"] == celerys["decoded_body"] == [["evt_1"], {}, ours["decoded_body"][2]]
    assert ours["headers"]["task"] == celerys["headers"]["task"] == PROCESS_EVENT
    assert ours["headers"]["argsrepr"] == celerys["headers"]["argsrepr"]
    assert set(ours["headers"]) == set(celerys["headers"]) | {MESSAGE_VERSION_HEADER}
    assert ours["headers"][MESSAGE_VERSION_HEADER] == MESSAGE_VERSION == 1
    for key in ("content-type", "content-encoding"):
        assert ours[key] == celerys[key]
    for key in ("body_encoding", "delivery_mode", "priority", "delivery_info"):
        assert ours["properties"][key] == celerys["properties"][key], key
    assert ours["headers"]["id"] == ours["properties"]["correlation_id"] == ours["headers"]["root_id"]
    assert ours["properties"]["delivery_tag"] != celerys["properties"]["delivery_tag"]
    for key in set(celerys["headers"]) - {"id", "root_id", "argsrepr"}:
        assert ours["headers"][key] == celerys["headers"][key], key


def test_every_message_has_its_own_ids() -> None:
    encoder = TaskMessageEncoder(app, PROCESS_EVENT, EVENTS_QUEUE)
    first, second = _decode(encoder.encode("evt_1")), _decode(encoder.encode("evt_2"))

    assert first["headers"]["id"] != second["headers"]["id"]
    assert first["properties"]["delivery_tag"] != second["properties"]["delivery_tag"]
    assert [first["decoded_body"][0], second["decoded_body"][0]] == [["evt_1"], ["evt_2"]]


def test_a_messages_ids_are_distinct_canonical_version_4_uuids() -> None:
    encoder = TaskMessageEncoder(app, PROCESS_EVENT, EVENTS_QUEUE)
    for _ in range(200):
        message = _decode(encoder.encode("evt_1"))
        ids = [message["headers"]["id"], message["properties"]["delivery_tag"]]

        assert ids[0] != ids[1]
        for text in ids:
            parsed = uuid.UUID(text)
            assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)
