"""``relay repos``: the configured repositories, and reading files at a commit as a worker does.

``read`` uses the worker's reader (the token from the token store, the cache under the data directory), so it
checks a repository's URL, token and limits end to end. It prints paths, sizes and digests, or one file's
contents with ``--cat``; never a token.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import click

from worker.cli.output import print_json, print_table


@click.group()
def repos() -> None:
    """Repositories Relay reads (``repos:`` in the configuration)."""


@repos.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def list_repos(as_json: bool) -> None:
    """Every configured repository: forge, URL, token name and limits."""
    from worker.config import get_settings

    settings = get_settings()
    rows = [
        {"name": name, "forge": repo.forge, "url": repo.url, "token": repo.token, "project": repo.project_path,
         "limits": repo.limits.model_dump()}
        for name, repo in sorted(settings.repos.items())
    ]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    print_table(["name", "forge", "url", "token"], [[r["name"], r["forge"], r["url"], r["token"]] for r in rows])


@repos.command("read")
@click.argument("name")
@click.argument("revision")
@click.argument("patterns", nargs=-1, required=True)
@click.option("--cat", "cat", metavar="PATH", help="Write this one file's contents to standard output.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def read(name: str, revision: str, patterns: tuple[str, ...], cat: str | None, as_json: bool) -> None:
    """Read the files matching PATTERNS (globs from the root) at REVISION (a commit id or a branch)."""
    from worker.cli.tokens import open_context
    from worker.repos.runtime import open_reader
    from worker.tokens.github_app import with_app_tokens

    ctx = open_context()
    try:
        tokens = with_app_tokens(ctx.store, ctx.settings)
        result = open_reader(ctx.settings, tokens).read_files(name, revision, list(patterns))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if cat is not None:
        if cat not in result.files:
            raise click.ClickException(f"{cat} is not among the files read")
        sys.stdout.buffer.write(result.files[cat])
        return
    files: list[dict[str, Any]] = [
        {"path": path, "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        for path, content in result.files.items()
    ]
    if as_json:
        print_json({"repo": name, "sha": result.sha, "files": files})
        return
    click.echo(f"{name} at {result.sha}: {len(files)} file(s)")
    print_table(["path", "bytes", "sha256"], [[f["path"], f["bytes"], f["sha256"][:16]] for f in files])
