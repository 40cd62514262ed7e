"""``relay tokens``: the token store from the command line.

Secrets are read from standard input or a hidden prompt, never from an argument (arguments end up in shell
history and ``ps``). Nothing here prints a secret, except ``rotate --show-secret`` (once, when the admin API has
just generated it) and ``git-credential`` (whose purpose is to hand it to git through a pipe, and only for the host
of the token's target).
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import httpx

from worker.cli.output import print_json, print_table, timestamp
from worker.config import Settings
from worker.errors import TokenError
from worker.tokens.records import Origin, TokenRecord, TokenStatus, check_name
from worker.tokens.scopes import parse_scope_list
from worker.tokens.store import TokenStore

DAY = 86400
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*d(?:ays?)?")


@dataclass
class Context:
    """Settings and the store, opened once per command."""

    settings: Settings
    store: TokenStore


def open_context() -> Context:
    """The settings and the token store, as every ``relay tokens`` command opens them."""
    return _open()


def _open() -> Context:
    from worker.config import get_settings
    from worker.store.connection import connect, resolve_redis_url
    from worker.tokens.keys import load_cipher
    from worker.tokens.store import seeds_from_settings

    settings = get_settings()
    client = connect(resolve_redis_url(settings))
    # The key is loaded on first need: list and history work without it, anything touching a secret does not.
    store = TokenStore(client, lambda: load_cipher(settings.data_dir), seeds=seeds_from_settings(settings))
    return Context(settings, store)


def parse_expiry(text: str, *, now: float | None = None) -> int:
    """``never``/``0``, Unix seconds, ``30d`` (from now), or an ISO-8601 date or time (UTC unless it says)."""
    value = text.strip().lower()
    if value in ("never", "0"):
        return 0
    if value.isdigit():
        return int(value)
    relative = _RELATIVE.fullmatch(value)
    if relative:
        return int((time.time() if now is None else now) + float(relative.group(1)) * DAY)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter("use never, Unix seconds, 30d, or an ISO date like 2026-09-01") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def parse_scopes(text: str) -> list[str]:
    """Comma-separated scopes, e.g. ``project:depot:rw,project:issue:ro`` (``tokens.scopes``'s grammar)."""
    try:
        return parse_scope_list(text)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (comma-separated)") from None


def read_secret(prompt: str) -> str:
    """The secret from standard input when piped, else from a hidden prompt."""
    secret = sys.stdin.read() if not sys.stdin.isatty() else click.prompt(prompt, hide_input=True, err=True)
    secret = secret.strip()
    if not secret:
        raise click.UsageError("no secret given (pipe it on standard input, or type it at the prompt)")
    if secret.startswith("-----BEGIN ") and secret.endswith("PRIVATE KEY-----"):
        return secret + "\n"  # a GitHub App's private key (PEM): its lines are part of it
    if any(char.isspace() for char in secret):
        raise click.UsageError("the secret holds whitespace: give exactly one secret")
    return secret


def days_left(record: TokenRecord, now: float) -> str:
    """Days until expiry for display: ``never``, ``?`` or a number (negative once expired)."""
    if record.expires_at == 0:
        return "never"
    if record.expires_at is None:
        return "?"
    return f"{(record.expires_at - now) / DAY:.1f}"


def shown_status(ctx: Context, record: TokenRecord, now: float) -> TokenStatus:
    """The status as of now (the stored one may be an hour old)."""
    from worker.tokens.policy import status_now

    return status_now(record, ctx.settings, now)


def _confirm(question: str, yes: bool) -> None:
    if not yes and not click.confirm(question, err=True):
        raise click.Abort


def _expiry_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--expires-at", "expires_at", help="Expiry: never, Unix seconds, 30d, or an ISO date (UTC).")(
        function
    )


@click.group()
def tokens() -> None:
    """Store, watch and rotate the admin API tokens Relay uses."""


@tokens.command("add")
@click.argument("name")
@click.option("--target", required=True, help="The target (from the configuration) the token is for.")
@click.option("--token-id", help="The admin API's id of the token (API7: needed to rotate it).")
@_expiry_option
@click.option("--description", default="", help="A note for operators.")
@click.option("--scopes", default="", help="Comma-separated scopes, e.g. project:depot:rw (CODING).")
def add(name: str, target: str, token_id: str | None, expires_at: str | None, description: str, scopes: str) -> None:
    """Store a new token; the secret is read from standard input or a hidden prompt."""
    ctx = _open()
    check_name(name)
    if target not in ctx.settings.targets:
        raise click.BadParameter(f"no target {target!r} in the configuration", param_hint="--target")
    secret = read_secret(f"Secret of token {name}")
    record = ctx.store.add(
        name, target, secret, token_id=token_id,
        expires_at=parse_expiry(expires_at) if expires_at else None,
        scopes=parse_scopes(scopes), description=description, origin=Origin.CLI,
    )  # fmt: skip
    click.echo(f"token {name}: stored for target {target} (version 1, fingerprint {record.fingerprint})")
    uses = ctx.settings.token_names[target]
    if uses != name:
        click.echo(f"note: target {target} uses token {uses!r}; set targets.{target}.token: {name} to use this one")
    click.echo(f"verify it with: relay tokens check {name}")


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def list_tokens(as_json: bool) -> None:
    """Every token: fingerprint, expiry, days left, status, last rotation."""
    ctx = _open()
    if ctx.store.seeds:
        # Without the key, list what is stored; seeding waits for a process that has it.
        with contextlib.suppress(TokenError):
            ctx.store.seed_all()
    now = time.time()
    records = ctx.store.all()
    if as_json:
        rows = []
        for record in records:
            data = record.to_json()
            data["status"] = str(shown_status(ctx, record, now))
            data["days_left"] = None if record.expires_at in (None, 0) else round((record.expires_at - now) / DAY, 2)
            rows.append(data)
        print_json(rows)
        return
    print_table(
        ["name", "target", "fingerprint", "version", "expires", "days left", "status", "last rotated"],
        [
            [r.name, r.target, r.fingerprint, r.version, "never" if r.expires_at == 0 else timestamp(r.expires_at),
             days_left(r, now), shown_status(ctx, r, now), timestamp(r.rotated_at)]
            for r in records
        ],
    )  # fmt: skip


@tokens.command("set")
@click.argument("name")
@click.option("--token-id", help="The admin API's id of the new token, if it changed.")
@_expiry_option
def set_secret(name: str, token_id: str | None, expires_at: str | None) -> None:
    """Install a new secret by hand (a new version); read from standard input or a hidden prompt."""
    from worker.store.locks import release_quietly, rotation_lock

    ctx = _open()
    record = ctx.store.get(name)
    secret = read_secret(f"New secret of token {name}")
    lock = rotation_lock(ctx.store.redis, name, ctx.settings.tokens.lock_seconds)
    if not lock.acquire(blocking=True, blocking_timeout=10):
        raise click.ClickException(f"token {name} is being rotated right now; try again in a moment")
    try:
        new = ctx.store.install(
            name, secret, origin=Origin.CLI,
            token_id=token_id if token_id else record.token_id,
            # A new secret usually comes with a new expiry: unknown until given or read from the admin API.
            expires_at=parse_expiry(expires_at) if expires_at else None,
        )  # fmt: skip
    finally:
        release_quietly(lock)
    ctx.store.audit(name, "set", f"new secret installed by hand (fingerprint {new.fingerprint})", version=new.version)
    click.echo(f"token {name}: version {new.version} installed (fingerprint {new.fingerprint}), status ok")
    if new.expires_at is None:
        click.echo(f"expiry unknown: `relay tokens check {name}` reads it from the admin API when it can")


@tokens.command("rotate")
@click.argument("name")
@click.option("--show-secret", is_flag=True, help="Print the new secret once (Relay has already stored it).")
def rotate(name: str, show_secret: bool) -> None:
    """Rotate the token now through its target kind's API (API7's regenerate, GitLab's self/rotate)."""
    from worker.tokens.checker import TokenChecker
    from worker.tokens.rotation import RotationOutcome

    ctx = _open()
    checker = TokenChecker(ctx.store, ctx.settings)
    result = checker.rotator.rotate(name, reason="requested with relay tokens rotate")
    if result.outcome != RotationOutcome.ROTATED:
        raise click.ClickException(f"token {name}: {result.outcome}: {result.message}")
    click.echo(f"token {name}: {result.message}")
    if show_secret and result.secret is not None:
        click.echo("new secret (shown this once): " + result.secret.get_secret_value())


@tokens.command("check")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.option("--dry-run", is_flag=True, help="Show what would be done; change and send nothing.")
def check(name: str | None, as_json: bool, dry_run: bool) -> None:
    """What the beat job does, now: confirm secrets, read expiries, warn, alert, rotate when due."""
    from worker.tokens.checker import TokenChecker

    ctx = _open()
    checker = TokenChecker(ctx.store, ctx.settings, dry_run=dry_run)
    reports = [checker.check_safely(name)] if name else checker.check_all()
    if as_json:
        print_json([report.to_json() for report in reports])
    else:
        print_table(
            ["name", "status", "days left", "version", "actions"],
            [
                [r.name, r.status, "?" if r.seconds_left is None else f"{r.seconds_left / DAY:.1f}", r.version,
                 r.error or "; ".join(r.actions) or "-"]
                for r in reports
            ],
        )  # fmt: skip
    if any(report.error for report in reports):
        sys.exit(1)


@tokens.command("edit")
@click.argument("name")
@click.option("--description", help="A note for operators.")
@click.option("--scopes", help="Comma-separated scopes (replaces them); '' clears.")
@click.option("--token-id", help="The admin API's id of the token.")
@_expiry_option
def edit(name: str, description: str | None, scopes: str | None, token_id: str | None, expires_at: str | None) -> None:
    """Change a token's description, scopes, admin API id or expiry (never its secret)."""
    ctx = _open()
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = description
    if scopes is not None:
        changes["scopes"] = parse_scopes(scopes)
    if token_id is not None:
        changes["token_id"] = token_id or None
    if expires_at is not None:
        changes["expires_at"] = parse_expiry(expires_at)
    if not changes:
        raise click.UsageError("nothing to change (see --help)")
    record = ctx.store.update(name, **changes)
    assert record is not None
    ctx.store.audit(name, "edited", "changed " + ", ".join(sorted(changes)), version=record.version)
    click.echo(f"token {name}: updated {', '.join(sorted(changes))}")


@tokens.command("remove")
@click.argument("name", required=False)
@click.option("--all", "remove_all", is_flag=True, help="Remove every token.")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.option("--revoke", is_flag=True, help="Also delete the token at the admin API (API7).")
def remove(name: str | None, remove_all: bool, yes: bool, revoke: bool) -> None:
    """Forget a token (and, with --revoke, delete it at the admin API first)."""
    if bool(name) == remove_all:
        raise click.UsageError("give a NAME or --all")
    ctx = _open()
    names = ctx.store.names() if remove_all else [ctx.store.get(str(name)).name]
    if not names:
        click.echo("no tokens")
        return
    what = "revoke and remove" if revoke else "remove"
    _confirm(f"{what} {len(names)} token(s): {', '.join(names)}?", yes)
    for each in names:
        record = ctx.store.get(each)
        if revoke:
            _revoke(ctx, record)
        ctx.store.remove(each)
        click.echo(f"token {each}: removed")
        if each in ctx.store.seeds:
            click.echo(f"note: target {ctx.store.seeds[each].target}'s token_secret seeds it again on the next start")


def _revoke(ctx: Context, record: TokenRecord) -> None:
    from worker.tokens import admin

    target = ctx.settings.targets.get(record.target)
    if target is None or target.kind != "api7" or not record.token_id:
        click.echo(f"token {record.name}: not revoked (only API7 tokens with a token id can be), removing anyway")
        return
    credential = ctx.store.credential(record.name)
    with admin.client_for(record.target, target, credential) as client:
        admin.revoke(client, record.token_id)
    click.echo(f"token {record.name}: revoked at the admin API (token id {record.token_id})")


@tokens.command("history")
@click.argument("name")
@click.option("--limit", default=50, show_default=True, help="How many of the newest entries.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def history(name: str, limit: int, as_json: bool) -> None:
    """Rotations, warnings, alerts and changes of a token, newest first."""
    entries = _open().store.history(name, limit)
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    print_table(
        ["at", "kind", "version", "message"],
        [[timestamp(e.at), e.kind, "-" if e.version is None else e.version, e.message] for e in entries],
    )


@tokens.command("git-credential")
@click.argument("name")
@click.argument("operation", default="get")
@click.option("--username", help="Username to answer (default: the one git asks about, else the token name).")
def git_credential(name: str, operation: str, username: str | None) -> None:
    """A git credential helper: git config credential.helper '!relay tokens git-credential NAME'."""
    attributes: dict[str, str] = {}
    for line in sys.stdin:
        line = line.rstrip("\r\n")
        if not line:
            break
        key, _, value = line.partition("=")
        attributes[key] = value
    if operation != "get":
        return  # store and erase: the token store is the source of truth, git has nothing to add
    if attributes.get("protocol") != "https":
        return  # never over plain http, whatever the host; saying nothing lets git try its other helpers
    ctx = _open()
    record, seed = ctx.store.find(name), ctx.store.seeds.get(name)
    target_name = record.target if record is not None else seed.target if seed is not None else None
    target = ctx.settings.targets.get(target_name) if target_name else None
    if target_name is not None and target is None:
        click.echo(
            f"relay: token {name} is for target {target_name!r}, which is not configured: not answered", err=True
        )
        return
    # A globally configured helper is asked about every host (submodules, redirects): answer only for the token's.
    if target is not None and not git_host_matches(str(target.base_url), attributes):
        return
    credential = ctx.store.current(name)  # an unknown token is an error the operator should see
    click.echo(f"username={username or attributes.get('username') or name}")
    click.echo(f"password={credential.secret.get_secret_value()}")


def git_host_matches(base_url: str, attributes: dict[str, str]) -> bool:
    """Whether git asks about https on the host (and port) of ``base_url``, which must itself be https."""
    host = attributes.get("host", "")
    if attributes.get("protocol") != "https" or not host:
        return False
    # A host git sends holds no user, path or query: anything that could smuggle one in is refused, not parsed.
    if any(char in "@/?#\\%" or char.isspace() for char in host):
        return False
    try:
        asked = httpx.URL(f"https://{host}/")
        expected = httpx.URL(base_url)
    except httpx.InvalidURL:
        return False
    # httpx lowercases hosts and drops a default port, so "Host.test:443" and "host.test" compare equal.
    return expected.scheme == "https" and asked.raw_host == expected.raw_host and asked.port == expected.port


@tokens.command("rekey")
def rekey() -> None:
    """Encrypt every stored secret with the first key of RELAY_TOKEN_KEY (then the old keys can go)."""
    count = _open().store.rekey()
    click.echo(f"re-encrypted {count} token(s) with the first key")
