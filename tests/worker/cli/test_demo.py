"""``relay demo push``: the signed push webhook for the demo repository's newest commit, posted or printed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from tests.support import Server
from webhooks.app import create_app
from worker.cli import main
from worker.config import Settings
from worker.devtools.supervise import gitops_demo
from worker.devtools.supervise.gitops_demo import DemoInfo
from worker.store.events import EventStore

pytestmark = pytest.mark.skipif(gitops_demo.git_available() is not None, reason="needs git")
SECRET = "demo-source-secret-0123456789"


def _demo(tmp_path: Path, receiver: str) -> tuple[Path, str]:
    data = tmp_path / "data"
    data.mkdir()
    root, work = gitops_demo.prepare_repository(data)
    bare = root / f"{gitops_demo.REPO}.git"
    DemoInfo(receiver, "http://127.0.0.1:9", "http://127.0.0.1:9", str(bare), str(work)).save(data)
    return data, gitops_demo.head(bare)[0]


def test_push_posts_the_newest_commit_signed_and_the_receiver_accepts_it(
    write_config: Callable[[dict[str, Any]], Settings],
    serve_app: Callable[[Any], Server],
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    settings = write_config({"sources": {"demo": {"kind": "github", "secret": SECRET}}})
    receiver = serve_app(create_app(settings, redis_url=redis_url))
    data, sha = _demo(tmp_path, receiver.url)

    result = CliRunner().invoke(main, ["demo", "push", "--data-dir", str(data)])

    assert result.exit_code == 0, result.output
    event_id = result.output.split("event ")[1].split()[0]
    record = EventStore(redis_client, retention_seconds=60).get(event_id)
    assert (record.source, record.type, record.payload["after"]) == ("demo", "push", sha)
    assert SECRET not in result.output


def test_print_shows_the_curl_with_the_real_commit_and_never_the_secret(
    write_config: Callable[[dict[str, Any]], Settings], tmp_path: Path
) -> None:
    write_config({"sources": {"demo": {"kind": "github", "secret": SECRET}}})
    data, sha = _demo(tmp_path, "http://127.0.0.1:8000")

    result = CliRunner().invoke(main, ["demo", "push", "--print", "--data-dir", str(data)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("curl -sS -X POST http://127.0.0.1:8000/hooks/demo ")
    assert f'"after":"{sha}"' in result.output
    assert SECRET not in result.output


def test_without_a_running_demo_it_says_to_start_relay_up(
    write_config: Callable[[dict[str, Any]], Settings], tmp_path: Path
) -> None:
    write_config({"sources": {"demo": {"kind": "github", "secret": SECRET}}})
    result = CliRunner().invoke(main, ["demo", "push", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no GitOps demo in" in result.output
    assert "relay up" in result.output
