"""``relay up``'s GitOps demo: its repository (made once, kept across starts), the push it posts, its configuration."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
import yaml

from worker.config import load_settings
from worker.devtools.supervise import gitops_demo
from worker.devtools.supervise.demo import (
    SANDBOX_TARGET,
    SECRET_ENV,
    TOKEN_ENV,
    signed_curl,
    signed_delivery,
    write_demo_config,
)
from worker.gitops.desired import load_desired
from worker.gitops.envvars import Filler, policy
from worker.gitops.ids import sha1
from worker.gitops.limits import DEFAULT_LIMITS

pytestmark = pytest.mark.skipif(gitops_demo.git_available() is not None, reason="needs git and git http-backend")


def test_the_repository_is_made_once_with_a_first_commit_and_kept_across_starts(tmp_path: Path) -> None:
    root, work = gitops_demo.prepare_repository(tmp_path)
    bare = root / f"{gitops_demo.REPO}.git"
    first, before = gitops_demo.head(bare)
    assert before == "0" * 40
    assert (work / "gateway" / "demo.yaml").read_text() == gitops_demo.FIRST_FILE
    (work / "gateway" / "demo.yaml").write_text(gitops_demo.FIRST_FILE + "# changed\n")
    gitops_demo.git("commit", "-qam", "change", cwd=work)
    gitops_demo.git("push", "-q", cwd=work)

    gitops_demo.prepare_repository(tmp_path)  # a second relay up

    assert gitops_demo.head(bare) == (gitops_demo.git("rev-parse", "HEAD", cwd=work), first)
    assert "token" not in (work / ".git" / "config").read_text().lower()


def test_the_first_file_is_adc_that_relay_reads() -> None:
    files = {"gateway/demo.yaml": gitops_demo.FIRST_FILE.encode()}
    desired = load_desired(files, repo=gitops_demo.REPO, filler=Filler(policy([], []), {}), limits=DEFAULT_LIMITS)
    service, route = sha1("httpbin"), sha1("httpbin.get")
    assert set(desired.resources) == {f"service:{service}", f"route:{service}/{route}"}


def test_the_push_is_signed_as_github_signs_and_names_the_commit() -> None:
    body = gitops_demo.push_body("a" * 40, "b" * 40)
    headers, raw = signed_delivery("s3cret", "d-1", body)
    expected = hmac.new(b"s3cret", raw.encode(), hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    assert json.loads(raw)["after"] == "a" * 40
    assert json.loads(raw)["repository"]["full_name"] == gitops_demo.FULL_NAME
    curl = signed_curl("http://127.0.0.1:8000/hooks/demo", "s3cret", "d-1", body)
    assert f"sha256={expected}" in curl
    assert "s3cret" not in curl


def test_the_demo_configuration_has_the_repository_its_token_and_the_sync_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (SECRET_ENV, TOKEN_ENV, gitops_demo.GIT_TOKEN_ENV):
        monkeypatch.setenv(name, f"generated-{name.lower()}-0123456789")
    overlay = gitops_demo.gitops_overlay("http://127.0.0.1:9999", SANDBOX_TARGET)
    path = write_demo_config(tmp_path, 9180, overlay)
    assert "generated-" not in path.read_text()  # secrets stay ${VARIABLES} in the file
    monkeypatch.setenv("RELAY_CONFIG", str(path))

    settings = load_settings()

    assert settings.repos[gitops_demo.REPO].url == "http://127.0.0.1:9999/gateway-config.git"
    assert settings.token_names[gitops_demo.GIT_TARGET] == settings.repos[gitops_demo.REPO].token
    assert settings.targets[SANDBOX_TARGET].api7_version == "3.5"
    sync = next(rule for rule in yaml.safe_load(path.read_text())["rules"] if rule["name"] == "demo-gitops")
    assert sync["do"][0]["prune"] is True
    assert [rule.name for rule in settings.rules] == ["sandbox-every-event", "demo-gitops"]
