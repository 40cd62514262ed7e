"""The status page in a real headless browser (Debian's chromium): it renders the numbers the JSON API reports.

Skipped, saying why, when no chromium is installed (``.ci/run`` installs it). ``SAVE_STATUS_SCREENSHOT=1`` also
writes the README's screenshot, tests/screenshots/status.png.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette

from tests.support import ROOT, Server
from webhooks import statuspage
from worker.config import Settings
from worker.ops import health, stats
from worker.store import history
from worker.store.events import EventRecord, EventStatus, EventStore

pytestmark = pytest.mark.integration
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = ROOT / "tests" / "screenshots" / "status.png"


def _browser(tmp_path: Path, *args: str) -> str:
    if BROWSER is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it)")
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}", *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _seed(client: redis.Redis) -> str:
    store = EventStore(client, retention_seconds=3600)
    now = time.time()
    for i in range(5):
        record = EventRecord(f"evt_ok{i}", "github", "push", f"d{i}", now - 60 * i, {}, {}, status=EventStatus.DONE)
        store.save(record, index=True)
        stats.record_event_finished(client, "github", "done", 0.5, now=now - 60 * i)
    failed = EventRecord("evt_failed1", "gitlab", "pipeline", "d9", now - 30, {}, {}, status=EventStatus.FAILED,
                         error="rule 'r' action 0: HTTP 503: busy")  # fmt: skip
    store.save(failed, index=True)
    history.append(client, failed.id, "attempt", attempt=1, worker="host:7")
    stats.record_event_finished(client, "gitlab", "failed", 2.0, now=now - 30)
    for minutes_ago, depth in enumerate([3, 8, 2, 0]):
        stats.record_depth(client, depth, now=now - 60 * minutes_ago)
    health.beat(client)
    health.beat_sent(client)
    return failed.id


def _text_of(dom: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert match, f"#{element_id} not in the rendered page"
    return html.unescape(match.group(1))


def test_the_page_shows_what_the_json_reports(
    redis_client: redis.Redis, serve_app: Callable[[Any], Server], tmp_path: Path
) -> None:
    failed_id = _seed(redis_client)
    routes = statuspage.routes(lambda: redis_client, Settings(redis_url="redis://unused"))
    server = serve_app(Starlette(routes=routes))
    data = httpx.get(f"{server.url}/status.json").json()

    dom = _browser(tmp_path, "--virtual-time-budget=3000", "--dump-dom", f"{server.url}/status")

    overview = data["overview"]
    assert _text_of(dom, "waiting") == str(overview["waiting"])
    assert _text_of(dom, "dead-letters") == str(overview["dead_letters"]) == "1"
    assert _text_of(dom, "received-60m") == str(overview["throughput"]["60m"]["received"]) == "6"
    assert _text_of(dom, "finished-60m") == str(overview["throughput"]["60m"]["finished"]) == "6"
    assert _text_of(dom, "failed-60m") == "1"
    assert f'href="/status/events/{failed_id}"' in dom
    assert "HTTP 503" in dom
    assert "<polyline" in dom, "the queue depth chart was drawn"
    assert "<rect" in dom, "the event rate chart was drawn"


def test_an_events_story_renders_and_a_screenshot_is_taken(
    redis_client: redis.Redis, serve_app: Callable[[Any], Server], tmp_path: Path
) -> None:
    failed_id = _seed(redis_client)
    routes = statuspage.routes(lambda: redis_client, Settings(redis_url="redis://unused"))
    server = serve_app(Starlette(routes=routes))

    dom = _browser(tmp_path, "--virtual-time-budget=3000", "--dump-dom", f"{server.url}/status/events/{failed_id}")
    shot = tmp_path / "status.png"
    _browser(tmp_path, "--virtual-time-budget=3000", "--window-size=1280,1000", f"--screenshot={shot}",
             f"{server.url}/status")  # fmt: skip

    assert _text_of(dom, "story-id") == failed_id
    assert "attempt 1 on host:7" in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000
    if os.environ.get("SAVE_STATUS_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
