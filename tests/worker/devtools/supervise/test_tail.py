"""``relay up``'s terminal: its children's log lines, followed from where each file ended."""

from __future__ import annotations

import json
from pathlib import Path

from worker.devtools.supervise.tail import LogFollower


def test_relay_up_follows_its_childrens_logs_from_where_they_ended(tmp_path: Path) -> None:
    (tmp_path / "worker.log").write_text('{"old": "line"}\n')
    text, raw = LogFollower(tmp_path, text=True), LogFollower(tmp_path, text=False)
    line = {"time": "2026-12-01T23:00:00.123+00:00", "level": "info", "logger": "relay.x", "message": "hi",
            "event_id": "evt_1"}  # fmt: skip
    with (tmp_path / "worker.log").open("a") as log:
        log.write(json.dumps(line) + "\n -------------- celery@host v5\n" + '{"partial": ')
    (tmp_path / "webhooks.log").write_text("")

    shown = text.poll()

    assert shown == ["worker   23:00:00.123 INFO    relay.x [evt_1] hi", "worker    -------------- celery@host v5"]
    assert raw.poll()[0] == json.dumps(line)
    with (tmp_path / "worker.log").open("a") as log:
        log.write('"rest"}\n')
    completed = text.poll()  # a line written in two pieces is shown once, whole
    assert len(completed) == 1
    assert completed[0].endswith("partial=rest")
