"""``relay up``'s GitOps demo: a local repository of ADC files that the sandbox's gateway group follows.

Under the data directory: ``gitops/gateway-config.git`` (bare, served by the git server that demands a generated
token) and ``gateway-config/`` (a work tree to edit, whose ``origin`` is the bare repository's path). The rule
``demo-gitops`` syncs group ``default`` on a ``demo`` push whose repository is ``demo/gateway-config``;
``relay demo push`` posts that push, signed, for the newest commit. ``demo.json`` says where everything is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from worker.devtools.sandbox.gitserver import HTTP_BACKEND

REPO = "gateway-config"
FULL_NAME = f"demo/{REPO}"
GROUP = "default"
PATHS = ["gateway/*.yaml"]
BRANCH = "main"
GIT_TARGET = "demo-git"
GIT_TOKEN_ENV = "RELAY_UP_GIT_TOKEN"  # noqa: S105 (a variable name, not a secret)
INFO_FILE = "demo.json"
_IDENTITY = {"user.name": "Relay demo", "user.email": "demo@relay.invalid"}

FIRST_FILE = """\
# relay up's sandbox keeps its gateway group "default" equal to the files gateway/*.yaml (ADC's format).
# Change this file, commit, push, then run: relay demo push
services:
  - name: httpbin
    upstream:
      name: default
      scheme: http
      type: roundrobin
      nodes: [{host: httpbin.org, port: 80, weight: 100}]
    routes:
      - name: get
        uris: [/get]
        methods: [GET]
"""


@dataclass(frozen=True)
class DemoInfo:
    """Where the demo's parts are, for ``relay demo push`` and the announcement (nothing secret)."""

    receiver: str
    sandbox: str
    git_server: str
    bare: str
    work: str
    group: str = GROUP

    def save(self, data_dir: Path) -> None:
        """Write ``demo.json``."""
        (data_dir / INFO_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, data_dir: Path) -> DemoInfo | None:
        """What ``save`` wrote, or None."""
        try:
            return cls(**json.loads((data_dir / INFO_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


def git_available() -> str | None:
    """Why the GitOps demo cannot run here (no ``git`` or no ``git http-backend``), or None."""
    if shutil.which("git") is None:
        return "git is not installed"
    if not Path(HTTP_BACKEND).exists():
        return f"git http-backend is not at {HTTP_BACKEND}"
    return None


def git(*args: str, cwd: Path) -> str:
    """Run git for the demo repository (no credentials involved: the work tree pushes to a local path)."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30)  # noqa: S603,S607
    return done.stdout.strip()


def prepare_repository(data_dir: Path) -> tuple[Path, Path]:
    """The bare repository and its work tree, made with a first commit unless they exist; (served root, work)."""
    root, work = data_dir / "gitops", data_dir / REPO
    bare = root / f"{REPO}.git"
    if not bare.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "-b", BRANCH, str(bare), cwd=root)
    if not work.is_dir():
        git("clone", "-q", str(bare), str(work), cwd=data_dir)
        for name, value in _IDENTITY.items():
            git("config", name, value, cwd=work)
        git("checkout", "-q", "-B", BRANCH, cwd=work)
    if not git("for-each-ref", f"refs/heads/{BRANCH}", cwd=bare):
        (work / "gateway").mkdir(exist_ok=True)
        (work / "gateway" / "demo.yaml").write_text(FIRST_FILE, encoding="utf-8")
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "gateway: the demo's first route", cwd=work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}", cwd=work)
    return root, work


def head(bare: Path) -> tuple[str, str]:
    """The branch's newest commit and its parent (40 zeros for the first commit), as a push names them."""
    sha = git("rev-parse", f"refs/heads/{BRANCH}", cwd=bare)
    parents = git("rev-list", "--parents", "-n", "1", sha, cwd=bare).split()[1:]
    return sha, parents[0] if parents else "0" * 40


def push_body(sha: str, before: str, message: str = "") -> dict[str, Any]:
    """A GitHub push event for the demo repository's main branch."""
    return {
        "ref": f"refs/heads/{BRANCH}",
        "before": before,
        "after": sha,
        "repository": {"full_name": FULL_NAME},
        "head_commit": {"id": sha, "message": message},
    }


def gitops_overlay(git_url: str, target: str) -> dict[str, Any]:
    """The configuration the GitOps demo adds: the git target holding the token, ``repos:`` and the sync rule."""
    return {
        "targets": {GIT_TARGET: {"kind": "bearer", "base_url": git_url, "token_secret": f"${{{GIT_TOKEN_ENV}}}"}},
        "repos": {REPO: {"url": f"{git_url}/{REPO}.git", "token": GIT_TARGET, "forge": "git"}},
        "rules": [
            {
                "name": "demo-gitops",
                "on": {"source": "demo", "event": "push"},
                "if": f"payload.repository.full_name == '{FULL_NAME}'",
                "do": [
                    {
                        "sync": target, "repo": REPO, "revision": "{{ payload.after }}", "paths": PATHS,
                        "gateway_group": GROUP, "prune": True,
                    }
                ],
            }
        ],
    }  # fmt: skip


def git_server_argv(python: str, root: Path, port: int) -> list[str]:
    """The git server's command line (its token comes from ``GITSERVER_TOKEN``, never an argument)."""
    return [python, "-m", "worker.devtools.sandbox.gitserver", "--root", str(root), "--port", str(port)]


def git_server_env(token: str) -> dict[str, str]:
    """The git server's own environment addition: the token it demands."""
    return {"GITSERVER_TOKEN": token, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
