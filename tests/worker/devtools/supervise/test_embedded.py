"""The embedded Redis: a child of the one supervisor that answers PING, says where it is, and stops or is killed."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from worker.devtools.supervise.embedded import EmbeddedRedis
from worker.errors import StoreError
from worker.store.connection import URL_FILE, ping


def test_it_answers_once_started_and_its_url_file_lives_as_long_as_it_does(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        assert ping(server.url)
        assert (tmp_path / URL_FILE).read_text() == server.url + "\n"
        child = server.child
    assert child is not None
    assert not child.running()
    assert child.process is not None
    assert child.process.returncode == 0  # SIGTERM: a clean shutdown that flushes the append-only file
    assert not (tmp_path / URL_FILE).exists()


def test_kill_is_sigkill(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path).start()

    server.kill()

    assert server.child is not None
    assert server.child.process is not None
    assert server.child.process.returncode == -signal.SIGKILL
    assert not ping(server.url)
    server.stop()


def test_a_port_in_use_is_a_store_error_naming_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = EmbeddedRedis(tmp_path, port=taken.getsockname()[1])

        with pytest.raises(StoreError, match=r"embedded Redis exited at start \(see .*redis\.log\)"):
            server.start()

    assert not (tmp_path / URL_FILE).exists()
