"""The reconcile workload's repository: a bare repository served over HTTP by ``git http-backend`` behind a token,
and a work tree the run commits to and pushes from (a local path: the run's own pushes need no credentials)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from worker.devtools.sandbox.gitserver import GitServer, GitServerState
from worker.devtools.supervise.gitops_demo import git

BRANCH = "main"
_IDENTITY = {"user.name": "Relay chaos", "user.email": "chaos@relay.invalid"}


@dataclass
class GatewayRepository:
    """``<root>/srv/<name>.git``, served at ``url`` to whoever presents ``token``, and its work tree."""

    root: Path
    name: str
    token: str
    server: GitServer | None = field(default=None, init=False)

    @property
    def bare(self) -> Path:
        """The served bare repository."""
        return self.root / "srv" / f"{self.name}.git"

    @property
    def work(self) -> Path:
        """The work tree commits are made in."""
        return self.root / f"{self.name}-work"

    @property
    def url(self) -> str:
        """The repository's clone URL."""
        assert self.server is not None, "start() first"
        return f"{self.server.url}/{self.name}.git"

    def start(self) -> GatewayRepository:
        """Make the empty repositories and serve the bare one."""
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "-b", BRANCH, str(self.bare), cwd=self.root)
        git("init", "-q", "-b", BRANCH, str(self.work), cwd=self.root)
        for name, value in _IDENTITY.items():
            git("config", name, value, cwd=self.work)
        self.server = GitServer(GitServerState(self.bare.parent, {self.token})).start()
        return self

    def commit(self, path: str, text: str, message: str) -> str:
        """Write ``path``, commit, push to the bare repository; the new commit's id."""
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", str(self.bare), f"HEAD:refs/heads/{BRANCH}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.stop()
