"""RepoReader against a real git server (``git http-backend``) that demands the token."""

from __future__ import annotations

import base64
import fcntl
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.worker.repos.support import GIT_TOKEN, Origin, RecordingGit, StaticTokens, git_server, repo_config
from worker.devtools.sandbox.gitserver import GitServer
from worker.errors import (
    AuthError,
    GitMissing,
    RepoAuthError,
    RepoLimitExceeded,
    RepoNotFound,
    RepoUnavailable,
    RetryableError,
)
from worker.repos.cache import RepoCache
from worker.repos.git import SubprocessGit
from worker.repos.reader import RepoReader


@pytest.fixture
def server(git_origin_server: GitServer) -> GitServer:
    """The git server serving ``origin`` (tests/conftest.py)."""
    return git_origin_server


def reader_for(server: GitServer, tmp_path: Path, tokens: StaticTokens | None = None, **config: object) -> RepoReader:
    refused: list[tuple[str, AuthError]] = []
    reader = RepoReader(
        {"payments": repo_config(server, **config)},  # type: ignore[arg-type]
        tokens or StaticTokens({"git-bot": GIT_TOKEN}),
        tmp_path / "cache",
        on_refused=lambda name, exc: refused.append((name, exc)),
    )
    reader.refused = refused  # type: ignore[attr-defined]
    return reader


def test_reads_the_matching_files_at_that_commit_not_the_tip(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    first = origin.commit({"relay/b.yaml": "b: 1\n", "relay/a.yaml": "a: 1\n", "README.md": "hello"})
    origin.commit({"relay/a.yaml": "a: 2\n"})

    result = reader_for(server, tmp_path).read_files("payments", first, ["relay/*.yaml"])

    assert result.sha == first
    assert list(result.files) == ["relay/a.yaml", "relay/b.yaml"]
    assert result.files["relay/a.yaml"] == b"a: 1\n"


def test_reads_a_branch_by_name_and_answers_its_commit(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    origin.commit({"adc.yaml": "v: 1\n"})
    tip = origin.commit({"adc.yaml": "v: 2\n"})

    result = reader_for(server, tmp_path).read_files("payments", "main", ["adc.yaml"])

    assert (result.sha, result.files) == (tip, {"adc.yaml": b"v: 2\n"})


def test_a_server_refusing_commit_ids_is_read_through_its_branches(origin: Origin, tmp_path: Path) -> None:
    old = origin.commit({"adc.yaml": "v: 1\n"})
    for n in range(3):
        origin.commit({"adc.yaml": f"v: {n + 2}\n"})
    with git_server(origin.bare.parent, allow_sha_wants=False) as server:
        result = reader_for(server, tmp_path).read_files("payments", old, ["adc.yaml"])
    assert result.files == {"adc.yaml": b"v: 1\n"}


@pytest.mark.parametrize("allow_sha_wants", [True, False])
def test_a_commit_the_server_lacks_is_a_permanent_error_naming_it(
    origin: Origin, tmp_path: Path, allow_sha_wants: bool
) -> None:
    origin.commit({"adc.yaml": "v: 1\n"})
    missing = "0123456789abcdef0123456789abcdef01234567"
    with (
        git_server(origin.bare.parent, allow_sha_wants=allow_sha_wants) as server,
        pytest.raises(RepoNotFound, match=missing) as caught,
    ):
        reader_for(server, tmp_path).read_files("payments", missing, ["adc.yaml"])
    assert not isinstance(caught.value, RetryableError)


def test_a_missing_path_is_a_permanent_error_naming_it(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    with pytest.raises(RepoNotFound, match=r"relay/missing\.yaml"):
        reader_for(server, tmp_path).read_files("payments", sha, ["adc.yaml", "relay/missing.yaml"])


def test_a_glob_matching_nothing_is_an_empty_result(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    assert reader_for(server, tmp_path).read_files("payments", sha, ["relay/*.yaml"]).files == {}


def test_a_symlink_is_its_target_name_never_followed(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    origin.commit({"adc.yaml": "v: 1\n"})
    sha = origin.symlink("leak.yaml", "/etc/passwd")

    files = reader_for(server, tmp_path).read_files("payments", sha, ["*.yaml"]).files

    assert files["leak.yaml"] == b"/etc/passwd"
    assert not list((tmp_path / "cache").rglob("leak.yaml"))  # nothing checked out


def test_a_file_past_max_file_bytes_is_refused_naming_it(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    sha = origin.commit({"big.yaml": "x" * 2048, "small.yaml": "ok"})
    reader = reader_for(server, tmp_path, limits={"max_file_bytes": 1024})
    with pytest.raises(RepoLimitExceeded, match=r"big\.yaml is 2048 bytes"):
        reader.read_files("payments", sha, ["*.yaml"])
    assert reader.read_files("payments", sha, ["small.yaml"]).files == {"small.yaml": b"ok"}


def test_a_fetch_past_max_fetch_bytes_is_refused_and_its_objects_dropped(
    origin: Origin, server: GitServer, tmp_path: Path
) -> None:
    sha = origin.commit({"noise.bin": os.urandom(300_000), "adc.yaml": "v: 1\n"})
    reader = reader_for(server, tmp_path, limits={"max_fetch_bytes": 100_000})

    with pytest.raises(RepoLimitExceeded, match="max_fetch_bytes"):
        reader.read_files("payments", sha, ["adc.yaml"])

    cache = RepoCache(tmp_path / "cache", "payments", repo_config(server).url)
    assert cache.objects_bytes() < 100_000
    assert not cache.packs()


@pytest.mark.parametrize(
    "pattern", ["../secrets", "/etc/passwd", "relay/../../x", "./adc.yaml", "", "relay\\adc.yaml", "a//b", "a\x00b"]
)
def test_patterns_outside_the_repository_are_refused(
    origin: Origin, server: GitServer, tmp_path: Path, pattern: str
) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    with pytest.raises(ValueError, match="pattern"):
        reader_for(server, tmp_path).read_files("payments", sha, [pattern])


@pytest.mark.parametrize(
    "revision", ["--upload-pack=touch /tmp/x", "main..other", "-x", "refs/heads/", "a b", "HEAD@{1}"]
)
def test_revisions_that_are_neither_a_commit_id_nor_a_ref_are_refused(
    origin: Origin, server: GitServer, tmp_path: Path, revision: str
) -> None:
    origin.commit({"adc.yaml": "v: 1\n"})
    with pytest.raises(ValueError, match="not a commit id"):
        reader_for(server, tmp_path).read_files("payments", revision, ["adc.yaml"])


def test_a_refused_token_is_reported_once_and_not_retried(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    tokens = StaticTokens({"git-bot": "glpat-wrong-token-000000000000"})
    reader = reader_for(server, tmp_path, tokens)

    with pytest.raises(RepoAuthError, match="401") as caught:
        reader.read_files("payments", sha, ["adc.yaml"])

    assert caught.value.refused
    assert caught.value.token_version == 1
    assert not isinstance(caught.value, RetryableError)
    assert [name for name, _ in reader.refused] == ["git-bot"]  # type: ignore[attr-defined]


def test_a_401_reads_the_token_again_and_uses_a_newer_secret(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})

    class RotatedMeanwhile(StaticTokens):
        def current(self, name: str):  # type: ignore[no-untyped-def]
            credential = super().current(name)
            self.set(name, GIT_TOKEN)  # the store holds the new secret from now on
            return credential

    reader = reader_for(server, tmp_path, RotatedMeanwhile({"git-bot": "glpat-old-dead-token-000000000"}))

    assert reader.read_files("payments", sha, ["adc.yaml"]).files == {"adc.yaml": b"v: 1\n"}
    assert reader.refused == []  # type: ignore[attr-defined]


def test_a_token_without_access_is_403_and_not_reported_refused(
    origin: Origin, server: GitServer, tmp_path: Path
) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    server.state.forbidden.add(GIT_TOKEN)
    reader = reader_for(server, tmp_path)
    with pytest.raises(RepoAuthError, match="403") as caught:
        reader.read_files("payments", sha, ["adc.yaml"])
    assert not caught.value.refused
    assert reader.refused == []  # type: ignore[attr-defined]


def test_an_unknown_repository_on_the_server_is_permanent(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    origin.commit({"adc.yaml": "v: 1\n"})
    reader = RepoReader(
        {"other": repo_config(server, "other")}, StaticTokens({"git-bot": GIT_TOKEN}), tmp_path / "cache"
    )
    with pytest.raises(RepoNotFound, match="other"):
        reader.read_files("other", "main", ["adc.yaml"])


def test_an_unreachable_server_is_retryable(origin: Origin, tmp_path: Path) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    with git_server(origin.bare.parent) as server:
        reader = reader_for(server, tmp_path)
    with pytest.raises(RepoUnavailable):
        reader.read_files("payments", sha, ["adc.yaml"])


def test_a_server_that_never_answers_is_cut_at_the_timeout(origin: Origin, tmp_path: Path) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does) and never answers
    port = silent.getsockname()[1]
    reader = RepoReader(
        {"payments": repo_config_at(f"http://127.0.0.1:{port}/payments.git", timeout_seconds=1)},
        StaticTokens({"git-bot": GIT_TOKEN}),
        tmp_path / "cache",
    )
    try:
        with pytest.raises(RepoUnavailable, match="did not finish within 1s"):
            reader.read_files("payments", sha, ["adc.yaml"])
    finally:
        silent.close()


def repo_config_at(url: str, **limits: object):  # type: ignore[no-untyped-def]
    from worker.repos.config import RepoConfig

    return RepoConfig.model_validate({"url": url, "token": "git-bot", "limits": limits})


def test_the_token_is_in_no_argument_no_cache_file(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    origin.commit({"adc.yaml": "v: 2\n"})
    git = RecordingGit(tmp_path)
    reader = RepoReader(
        {"payments": repo_config(server)}, StaticTokens({"git-bot": GIT_TOKEN}), tmp_path / "cache", git=git
    )

    reader.read_files("payments", sha, ["adc.yaml"])
    reader.read_files("payments", "main", ["adc.yaml"])

    encoded = base64.b64encode(f"{repo_config(server).user}:{GIT_TOKEN}".encode()).decode()
    forms = (GIT_TOKEN, encoded, encoded[:20])
    assert not [args for args, _ in git.calls if any(form in " ".join(args) for form in forms)]
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(form.encode() in content for form in forms), path
    # It did go through the environment, scoped to the repository's URL.
    fetches = [config for args, config in git.calls if args[0] == "fetch"]
    assert fetches
    assert all(
        config[f"http.{server.url}/payments.git.extraHeader"] == f"Authorization: Basic {encoded}" for config in fetches
    )


@pytest.mark.parametrize("allow_sha_wants", [True, False])
def test_is_ancestor_follows_history_beyond_a_shallow_fetch(
    origin: Origin, tmp_path: Path, allow_sha_wants: bool
) -> None:
    first = origin.commit({"adc.yaml": "v: 0\n"})
    for n in range(60):  # deeper than the first deepening
        origin.commit({"adc.yaml": f"v: {n + 1}\n"})
    last = origin.commit({"adc.yaml": "v: last\n"})
    side = origin.commit({"side.yaml": "x"}, branch="side")
    with git_server(origin.bare.parent, allow_sha_wants=allow_sha_wants) as server:
        reader = reader_for(server, tmp_path)
        assert reader.is_ancestor("payments", first, last)
        assert not reader.is_ancestor("payments", last, first)
        assert reader.is_ancestor("payments", last, last)
        assert reader.is_ancestor("payments", last, side)


def test_a_cache_locked_past_the_timeout_is_retryable(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    config = repo_config(server, limits={"timeout_seconds": 0.3})
    cache = RepoCache(tmp_path / "cache", "payments", config.url)
    cache.root.mkdir(parents=True)
    holder = os.open(cache.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another worker process mid-fetch
    try:
        reader = RepoReader({"payments": config}, StaticTokens({"git-bot": GIT_TOKEN}), tmp_path / "cache")
        with pytest.raises(RepoUnavailable, match="locked"):
            reader.read_files("payments", sha, ["adc.yaml"])
    finally:
        os.close(holder)
    assert reader.read_files("payments", sha, ["adc.yaml"]).files == {"adc.yaml": b"v: 1\n"}


def test_concurrent_readers_of_one_cache_all_succeed(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    shas = [origin.commit({"adc.yaml": f"v: {n}\n"}) for n in range(4)]
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def read(n: int) -> None:
        reader = reader_for(server, tmp_path)  # one reader per "process": they share only the cache directory
        try:
            results[n] = reader.read_files("payments", shas[n], ["adc.yaml"]).files["adc.yaml"]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert results == {n: f"v: {n}\n".encode() for n in range(4)}


def test_without_git_the_error_says_to_install_it(tmp_path: Path) -> None:
    git = SubprocessGit("/nonexistent/bin/git")
    with pytest.raises(GitMissing, match="apt-get install git"):
        git.run(["--version"], cwd=tmp_path, timeout=5)


def test_an_unknown_repository_name_is_permanent(tmp_path: Path) -> None:
    reader = RepoReader({}, StaticTokens({}), tmp_path)
    with pytest.raises(RepoNotFound, match="no repository 'nope'"):
        reader.read_files("nope", "main", ["a"])


def test_files_past_max_read_bytes_together_are_refused(origin: Origin, server: GitServer, tmp_path: Path) -> None:
    sha = origin.commit({f"f{n}.yaml": "x" * 600 for n in range(3)})
    reader = reader_for(server, tmp_path, limits={"max_read_bytes": 1000})
    with pytest.raises(RepoLimitExceeded, match="1800 bytes, past max_read_bytes"):
        reader.read_files("payments", sha, ["*.yaml"])
    assert len(reader.read_files("payments", sha, ["f0.yaml"]).files) == 1


def test_a_redirect_elsewhere_is_not_followed_and_never_gets_the_token(origin: Origin, tmp_path: Path) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://127.0.0.1:{elsewhere.server_address[1]}"

    class Redirector(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    for httpd in (elsewhere, redirector):
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        reader = RepoReader(
            {"payments": repo_config_at(f"http://127.0.0.1:{redirector.server_address[1]}/payments.git")},
            StaticTokens({"git-bot": GIT_TOKEN}),
            tmp_path / "cache",
        )
        with pytest.raises(RepoUnavailable):
            reader.read_files("payments", sha, ["adc.yaml"])
    finally:
        for httpd in (elsewhere, redirector):
            httpd.shutdown()
            httpd.server_close()
    assert seen == []  # git stopped at the redirect: the other host saw nothing, let alone the token


def test_a_cache_past_max_cache_bytes_is_dropped_and_refetched(
    origin: Origin, server: GitServer, tmp_path: Path
) -> None:
    sha = origin.commit({"noise.bin": os.urandom(50_000), "adc.yaml": "v: 1\n"})
    reader = reader_for(server, tmp_path, limits={"max_cache_bytes": 20_000})
    cache = RepoCache(tmp_path / "cache", "payments", repo_config(server).url)

    assert reader.read_files("payments", sha, ["adc.yaml"]).files == {"adc.yaml": b"v: 1\n"}
    assert not cache.exists()  # dropped once read
    assert reader.read_files("payments", sha, ["adc.yaml"]).files == {"adc.yaml": b"v: 1\n"}
    fetches = [r for r in server.state.requests if r.path.endswith("git-upload-pack") and r.method == "POST"]
    assert len(fetches) >= 2  # fetched again
