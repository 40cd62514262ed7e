"""A worker process's reader and status reporter: built once, from the settings, wired to the token lifecycle."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis
from cryptography.fernet import Fernet

from tests.worker.repos.support import Origin, StaticTokens, repo_config
from worker.config import Settings
from worker.devtools.sandbox.gitserver import GitServer
from worker.errors import RepoAuthError
from worker.ops import stats
from worker.repos.statuses import CommitState, CommitStatus
from worker.runtime import Runtime
from worker.tokens.keys import parse_keys
from worker.tokens.records import TokenStatus
from worker.tokens.store import TokenStore


def test_the_runtime_reads_repositories_and_reports_a_refused_token(
    origin: Origin, git_origin_server: GitServer, fake_redis: redis.Redis, tmp_path: Path
) -> None:
    sha = origin.commit({"adc.yaml": "v: 1\n"})
    settings = Settings(
        data_dir=tmp_path / "data",
        targets={"forge": {"kind": "bearer", "base_url": git_origin_server.url, "token": "git-bot"}},
        repos={"payments": repo_config(git_origin_server).model_dump()},
    )
    store = TokenStore(fake_redis, parse_keys(Fernet.generate_key().decode(), origin="test"))
    store.add("git-bot", "forge", "glpat-revoked-token-0000000000000")
    runtime = Runtime(settings, fake_redis, store)

    assert runtime.repos is runtime.repos
    assert runtime.repos.cache_root == tmp_path / "data" / "repos"
    with pytest.raises(RepoAuthError, match="401"):
        runtime.repos.read_files("payments", sha, ["adc.yaml"])
    assert store.get("git-bot").status == TokenStatus.INVALID


def test_the_runtime_counts_commit_statuses(fake_redis: redis.Redis, tmp_path: Path) -> None:
    settings = Settings(
        targets={"forge": {"kind": "bearer", "base_url": "https://git.example.com", "token": "git-bot"}},
        repos={"pay": {"url": "https://git.example.com/a/pay.git", "token": "git-bot", "forge": "gitea"}},
    )

    tokens = StaticTokens({"git-bot": "gitea-token"})
    runtime = Runtime(settings, fake_redis, tokens, transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    assert runtime.statuses.report("pay", "f" * 40, CommitStatus(CommitState.SUCCESS, "ok")) == "failed"
    runtime.close()
    metric = next(m for m in stats.read_families(fake_redis) if m.name == "relay_commit_statuses")
    assert [(s.labels["outcome"], s.value) for s in metric.samples] == [("failed", 1.0)]
