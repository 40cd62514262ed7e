"""``relay gitops``: what each synced gateway group holds (revisions, outcome, drift), and a plan on demand.

``status`` reads Redis only; ``plan`` reads the repository and the gateway group as a sync would, and writes
nothing (secrets masked). The rule logic (``tasks``) is imported inside the commands.
"""

from __future__ import annotations

import json
from typing import Any

import click

from worker.cli.output import print_json, print_table, timestamp


@click.group()
def gitops() -> None:
    """Gateway groups kept equal to a repository."""


@gitops.command("status")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def status(as_json: bool) -> None:
    """Per target and gateway group: last attempted and applied revisions, outcome, last plan, drift."""
    from worker.config import get_settings
    from worker.gitops.revisions import Revisions, groups
    from worker.store.connection import connect, resolve_redis_url

    settings = get_settings()
    client = connect(resolve_redis_url(settings), settings)
    report = []
    for target, group in groups(client):
        records = Revisions(client, target, group)
        state = records.state()
        report.append({"target": target, "gateway_group": group, **state.__dict__, "history": records.history()[:5]})
    if as_json:
        print_json({"groups": report})
        return
    if not report:
        click.echo("no gateway group has been synced yet")
        return
    print_table(
        ["target", "group", "repo", "applied", "attempted", "outcome", "last plan", "drift", "updated"],
        [_row(entry) for entry in report],
    )
    for entry in report:
        if entry["error"]:
            click.echo(f"{entry['target']}/{entry['gateway_group']}: {entry['error']}")


def _row(entry: dict[str, Any]) -> list[str]:
    summary = entry.get("summary") or {}
    plan = f"+{summary.get('create', 0)} ~{summary.get('update', 0)} -{summary.get('delete', 0)}" if summary else "-"
    drift = entry.get("drift")
    drifted = "-" if drift is None else ("yes" if drift.get("changes") else "no")
    revisions = [_short(entry.get("last_applied")), _short(entry.get("last_attempted"))]
    when = timestamp(entry.get("updated_at"))
    return [
        entry["target"],
        entry["gateway_group"],
        entry.get("repo") or "-",
        *revisions,
        entry.get("outcome") or "-",
        plan,
        drifted,
        when,
    ]


def _short(revision: str | None) -> str:
    return revision[:12] if revision else "-"


@gitops.command("plan")
@click.option("--repo", required=True, help="Repository (a key of repos:).")
@click.option("--revision", required=True, help="Commit (or ref) to plan.")
@click.option("--target", required=True, help="The api7 target.")
@click.option("--group", "group", default="default", show_default=True, help="Gateway group name (exact).")
@click.option("--path", "paths", multiple=True, help="Files to read (glob); default: the matching sync action's.")
@click.option("--prune", is_flag=True, default=None, help="Plan deletes of what this repository applied before.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def plan(
    repo: str, revision: str, target: str, group: str, paths: tuple[str, ...], prune: bool | None, as_json: bool
) -> None:
    """What a sync of REVISION would write to the group now; nothing is written."""
    from tasks.actions.sync import reconciler_for
    from worker.runtime import get_runtime

    runtime = get_runtime()
    if target not in runtime.settings.targets:
        raise click.ClickException(f"no target named {target!r}")
    spec = _spec(runtime.settings, repo, revision, target, group, paths, prune)
    planned = reconciler_for(runtime, target).plan(spec).to_json()
    if as_json:
        print_json(planned)
        return
    _print_plan(planned)


def _spec(
    settings: Any, repo: str, revision: str, target: str, group: str, paths: tuple[str, ...], prune: bool | None
) -> Any:
    """The sync of the configured rule for this target, group and repository (its paths, env, prune), or defaults."""
    from worker.config import SyncAction
    from worker.gitops.envvars import policy
    from worker.gitops.reconcile import SyncSpec

    action = next(
        (
            item
            for rule in settings.rules
            for item in rule.do
            if isinstance(item, SyncAction) and (item.sync, item.gateway_group, item.repo) == (target, group, repo)
        ),
        None,
    )
    default = SyncAction(sync=target, repo=repo, revision=revision, gateway_group=group)
    chosen = action or default
    return SyncSpec(
        target=target,
        group=group,
        repo=repo,
        revision=revision,
        paths=tuple(paths) or tuple(chosen.paths),
        prune=chosen.prune if prune is None else prune,
        allow_empty=chosen.allow_empty,
        env=policy(chosen.env.allow, chosen.env.allow_prefix),
        api7_version=settings.targets[target].api7_version,
    )


def _print_plan(planned: dict[str, Any]) -> None:
    summary = planned["summary"]
    click.echo(
        f"{planned['repo']}@{planned['revision'][:12]} -> {planned['target']} group {planned['gateway_group']!r}"
        f" ({planned['backend']}): {summary['create']} create, {summary['update']} update, {summary['delete']} delete"
    )
    rows = [
        [c["op"], c["type"], c["name"], c.get("reason") or ", ".join(f["field"] for f in c["fields"][:6])]
        for c in planned["changes"]
    ]
    if rows:
        print_table(["op", "type", "name", "fields"], rows)
    else:
        click.echo("nothing to change: the group holds this revision")
    for line in planned["kept"]:
        click.echo(f"kept: {line}")
    for change in planned["changes"]:
        for item in change["fields"]:
            old, new = json.dumps(item["old"], default=str), json.dumps(item["new"], default=str)
            click.echo(f"  {change['name']} {item['field']}: {old} -> {new}")
