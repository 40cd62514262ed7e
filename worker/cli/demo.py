"""``relay demo``: drive ``relay up``'s demo (post the GitOps repository's push as its forge would)."""

from __future__ import annotations

import uuid
from pathlib import Path

import click


@click.group()
def demo() -> None:
    """Drive relay up's demo while it runs."""


@demo.command("push")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Default: data_dir, ./.relay")
@click.option("--print", "print_only", is_flag=True, help="Print the signed curl instead of posting it.")
def push(data_dir: Path | None, print_only: bool) -> None:
    """Post the signed push webhook for the demo repository's newest commit (what its forge would send)."""
    import httpx

    from worker.config import get_settings
    from worker.devtools.supervise.demo import DEMO_SOURCE, signed_curl, signed_delivery
    from worker.devtools.supervise.gitops_demo import DemoInfo, head, push_body

    settings = get_settings()
    data_dir = data_dir or settings.data_dir
    info = DemoInfo.load(data_dir)
    source = settings.sources.get(DEMO_SOURCE)
    if info is None or source is None or source.secret is None:
        raise click.ClickException(f"no GitOps demo in {data_dir}: start `relay up` (with no target configured) first")
    sha, before = head(Path(info.bare))
    url = f"{info.receiver}/hooks/{DEMO_SOURCE}"
    secret, delivery, payload = source.secret.get_secret_value(), str(uuid.uuid4()), push_body(sha, before)
    if print_only:
        click.echo(signed_curl(url, secret, delivery, payload))
        return
    headers, body = signed_delivery(secret, delivery, payload)
    try:
        answer = httpx.post(url, headers=headers, content=body.encode(), timeout=10)
    except httpx.HTTPError as exc:
        reason = f"the receiver at {info.receiver} did not answer ({type(exc).__name__})"
        raise click.ClickException(f"{reason}: is relay up running?") from None
    if answer.status_code != 202:
        raise click.ClickException(f"the receiver answered {answer.status_code}: {answer.text[:200]}")
    event = answer.json().get("event_id")
    click.echo(f"pushed {sha[:12]}: event {event}   (relay events show {event}; relay gitops status)")
