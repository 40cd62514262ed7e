"""``relay rules``: check the configuration's rules, and dry-run them against a saved payload (nothing is sent).

Neither command needs Redis or a running worker; the rule logic (``tasks``) is imported inside the commands.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from worker.channels import channel_url
from worker.cli.output import print_json
from worker.config import (
    ACTION_KINDS,
    Rule,
    Settings,
    config_path,
    load_settings,
    read_config_file,
    unset_references,
)
from worker.errors import ConfigError, RelayError
from worker.ops.logs import secret_values
from worker.redaction import Secrets
from worker.store.events import EventRecord

if TYPE_CHECKING:
    from tasks.actions import PlannedAction

DRY_RUN_EVENT_ID = "evt_dry_run"

UNSET_STAND_IN = "https://unset.invalid/"  # stands in for an unset variable: valid as a secret or a URL


@click.group()
def rules() -> None:
    """Check the rules and try them on a saved payload."""


@rules.command("check")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def check(as_json: bool) -> None:
    """Validate the configuration (references, templates, conditions); exit 1 listing every problem."""
    if not config_path().exists():  # "ok: 0 rules" for a file that is not there would mislead
        raise click.ClickException(f"{config_path()}: configuration file not found")
    problems, parsed = configuration_problems()
    actions = sum(len(rule.do) for rule in parsed)
    if as_json:
        print_json({"ok": not problems, "problems": problems, "rules": len(parsed), "actions": actions})
    else:
        for problem in problems:
            click.echo(problem)
        if problems:
            click.echo(f"{len(problems)} problem(s) in {config_path()}", err=True)
        else:
            click.echo(f"ok: {len(parsed)} rule(s), {actions} action(s) in {config_path()}")
    if problems:
        sys.exit(1)


def configuration_problems() -> tuple[list[str], list[Rule]]:
    """Every problem of the configuration file, one line each, and the rules that parsed."""
    from tasks.rules import check_rules

    problems: list[str] = []
    try:
        # An unset variable is one problem among others: note it, stand a value in for it, and check the rest.
        for where, name in unset_references(config_path()):
            problems.append(f"{config_path()}: {where}: environment variable {name} is not set")
            os.environ[name] = UNSET_STAND_IN
        data = read_config_file(config_path())
    except ConfigError as exc:
        return [*problems, str(exc)], []
    try:
        # Everything but the rules, which are validated one by one below so that every problem is listed.
        settings = Settings(rules=[])
        names = {"targets": set(settings.targets), "channels": set(settings.channels), "sources": set(settings.sources)}
        problems.extend(_channel_problems(settings))
    except (ValidationError, ConfigError) as exc:
        problems.extend(_validation_problems(exc) if isinstance(exc, ValidationError) else [str(exc)])
        names = {key: _declared(data, key) for key in ("targets", "channels", "sources")}
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        return [*problems, "rules: must be a list of rules"], []
    parsed: list[Rule] = []
    for index, raw in enumerate(raw_rules):
        try:
            parsed.append(Rule.model_validate(raw))
        except ValidationError as exc:
            problems.extend(_rule_problems(index, raw, exc))
    problems += check_rules(parsed, targets=names["targets"], channels=names["channels"], sources=names["sources"])
    return problems, parsed


def _channel_problems(settings: Settings) -> list[str]:
    problems = []
    for name, config in settings.channels.items():
        try:
            channel_url(config)
        except ValueError as exc:
            problems.append(f"channels.{name}.url: {exc}")
    return problems


def _declared(data: dict[str, Any], key: str) -> set[str]:
    value = data.get(key)
    return {str(name) for name in value} if isinstance(value, dict) else set()


def _validation_problems(exc: ValidationError) -> list[str]:
    # Locations and messages only, never the input: it may be a secret.
    return [f"{_location(err['loc'])}: {str(err['msg']).removeprefix('Value error, ')}" for err in exc.errors()]


def _rule_problems(index: int, raw: Any, exc: ValidationError) -> list[str]:
    name = raw.get("name") if isinstance(raw, dict) else None
    prefix = f"rule {name!r}" if isinstance(name, str) and name else f"rules[{index}]"
    problems: list[str] = []
    for err in exc.errors():
        loc = err["loc"]
        if len(loc) >= 3 and loc[0] == "do" and isinstance(loc[1], int) and loc[2] in ACTION_KINDS:
            # An action is a union tagged by its kind key: only that kind's errors come, under its tag.
            loc = (*loc[:2], *loc[3:])
        problems.append(f"{_location(loc)}: {str(err['msg']).removeprefix('Value error, ')}")
    return [f"{prefix} {problem}" for problem in problems]


def _location(loc: Iterable[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@rules.command("test")
@click.option("--source", required=True, help="Source name, as in /hooks/<source>.")
@click.option("--event", "event_type", required=True, help="Event type (X-GitHub-Event, X-Gitlab-Event, ...).")
@click.option("--payload", "payload_file", type=click.File("rb"), required=True, help="JSON payload ('-': stdin).")
@click.option("--headers", "headers_file", type=click.File("rb"), help="JSON object of request headers.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
def test(source: str, event_type: str, payload_file: IO[bytes], headers_file: IO[bytes] | None, as_json: bool) -> None:
    """Show which rules an event matches and exactly what they would send; nothing is sent."""
    from tasks.actions import idempotency_key, plan_rule
    from tasks.rules import event_context, explain

    settings = load_settings()
    headers = _read_json(headers_file, "--headers") if headers_file else {}
    if not isinstance(headers, dict):
        raise RelayError("--headers: the file must hold a JSON object of header names to values")
    record = EventRecord(
        id=DRY_RUN_EVENT_ID,
        source=source,
        type=event_type,
        delivery_id="dry-run",
        received_at=time.time(),
        headers={str(name).lower(): str(value) for name, value in headers.items()},
        payload=_read_json(payload_file, "--payload"),
    )
    report: dict[str, Any] = {"event": {"source": source, "type": event_type}, "matched": [], "not_matched": []}
    failed = False
    for verdict in explain(settings.rules, record):
        if not verdict.matched:
            report["not_matched"].append({"rule": verdict.rule.name, "reason": verdict.reason, "error": verdict.error})
            failed = failed or verdict.error is not None
            continue
        context = event_context(record)
        planned = plan_rule(verdict.rule, context)
        actions = [
            _describe(settings, step, idempotency_key(record.id, verdict.rule.name, step.index), context)
            for step in planned
        ]
        failed = failed or any(step.error for step in planned)
        report["matched"].append({"rule": verdict.rule.name, "actions": actions})
    report = Secrets(secret_values(settings)).redact_value(report)
    if as_json:
        print_json(report)
    else:
        _print_report(report, unknown_source=bool(settings.sources) and source not in settings.sources)
    if failed:
        sys.exit(1)


def _read_json(stream: IO[bytes], option: str) -> Any:
    try:
        return json.loads(stream.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise RelayError(f"{option}: {getattr(stream, 'name', 'input')} is not valid JSON ({exc})") from None


def _describe(settings: Settings, step: PlannedAction, key: str, context: dict[str, Any]) -> dict[str, Any]:
    from tasks.actions import runner_for

    action = step.action
    head = {"kind": action.kind, action.addresses: action.address, "index": step.index}
    if step.request is None:
        return {**head, "error": step.error}
    return {**head, **runner_for(action).preview(settings, action, step.request, key, context)}


def _print_report(report: dict[str, Any], *, unknown_source: bool) -> None:
    event = report["event"]
    click.echo(f"event: source={event['source']} type={event['type']} (dry run: nothing is sent)")
    if unknown_source:
        click.echo(f"note: source {event['source']!r} is not configured; the receiver would answer 404")
    for rule in report["matched"]:
        click.echo(f"\nmatched: {rule['rule']}")
        for action in rule["actions"]:
            _print_action(action)
    if report["not_matched"]:
        click.echo("")
    for rule in report["not_matched"]:
        click.echo(f"not matched: {rule['rule']}: {rule['error'] or rule['reason']}")
    count = len(report["matched"])
    click.echo(f"\n{count} rule(s) matched" if count else "\nno rule matched: the event would be skipped")


def _print_action(action: dict[str, Any]) -> None:
    from tasks.actions import RUNNERS

    head = f"  [{action['index']}] {action['kind']} {action[ACTION_KINDS[action['kind']].addresses]}"
    if "error" in action:
        click.echo(f"{head}: error: {action['error']}")
        return
    first, *rest = RUNNERS[action["kind"]].report_lines(action)
    click.echo(head + first)
    for line in rest:
        click.echo(line)
