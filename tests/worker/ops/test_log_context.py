"""Every line logged about an event carries its id; text on a terminal, JSON otherwise."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from celery.signals import task_postrun, task_prerun

from worker.ops.logs import EventIdFilter, JsonFormatter, TextFormatter, _formatter, current_event_id, event_context


def _record(message: str = "calling target", **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("relay.pipeline", logging.INFO, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    EventIdFilter().filter(record)
    return record


def test_lines_inside_an_event_context_carry_its_id() -> None:
    with event_context("evt_1"):
        inside = json.loads(JsonFormatter().format(_record()))
    outside = json.loads(JsonFormatter().format(_record()))

    assert inside["event_id"] == "evt_1"
    assert "event_id" not in outside


def test_an_explicit_event_id_wins_and_uvicorns_colour_copy_is_dropped() -> None:
    with event_context("evt_1"):
        line = json.loads(JsonFormatter().format(_record(event_id="evt_2", color_message="\x1b[32mx\x1b[0m")))

    assert line["event_id"] == "evt_2"
    assert "color_message" not in line


def test_the_text_format_is_one_readable_line() -> None:
    with event_context("evt_1"):
        text = TextFormatter().format(_record("sent", status=201))

    assert text.endswith("INFO    relay.pipeline [evt_1] sent  status=201")
    assert "{" not in text


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("fmt", "env", "tty", "kind"),
    [
        (None, None, True, TextFormatter),
        (None, None, False, JsonFormatter),
        (None, "json", True, JsonFormatter),
        ("text", "json", False, TextFormatter),
    ],
)
def test_the_format_follows_the_terminal_unless_told(
    monkeypatch: pytest.MonkeyPatch, fmt: str | None, env: str | None, tty: bool, kind: type
) -> None:
    if env:
        monkeypatch.setenv("RELAY_LOG_FORMAT", env)

    assert type(_formatter(fmt, _Stream(tty))) is kind


def test_a_process_event_task_sets_the_id_for_its_run() -> None:
    class Task:
        name = "relay.process_event"

    task_prerun.send(sender=Task, task_id="t1", task=Task(), args=["evt_9"])
    during = current_event_id()
    task_postrun.send(sender=Task, task_id="t1", task=Task(), args=["evt_9"])

    assert (during, current_event_id()) == ("evt_9", None)
