"""Which rules an event triggers, why the others do not, and what is wrong with a rule before it runs."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from tasks.actions import runner_for
from tasks.templates import (
    compile_condition,
    compile_template,
    evaluate_condition,
    is_template,
    template_names,
    walk_strings,
)
from worker.config import Action, Rule, rule_references
from worker.errors import RuleError
from worker.store.events import EventRecord

# What a template may read, besides the helpers (``now()``, ``range``...).
CONTEXT_NAMES = frozenset({"payload", "headers", "event", "saved"})


def event_context(record: EventRecord) -> dict[str, Any]:
    """The names a condition or template can use."""
    return {
        "payload": record.payload,
        "headers": record.headers,
        "event": {
            "id": record.id,
            "source": record.source,
            "type": record.type,
            "delivery_id": record.delivery_id,
            "received_at": record.received_at,
        },
    }


def matching_rules(rules: list[Rule], record: EventRecord, context: dict[str, Any] | None = None) -> list[Rule]:
    """Rules whose ``on`` matches the event and whose ``if`` holds, in configuration order."""
    context = event_context(record) if context is None else context
    return [
        rule
        for rule in rules
        if rule.on.matches(record.source, record.type) and (rule.condition is None or _holds(rule, context))
    ]


def _holds(rule: Rule, context: dict[str, Any]) -> bool:
    assert rule.condition is not None
    try:
        return evaluate_condition(rule.condition, context)
    except RuleError as exc:
        raise RuleError(f"rule {rule.name!r} if: {exc}") from None


@dataclass(frozen=True)
class Verdict:
    """Whether one rule matches an event; ``reason`` says why not, ``error`` when its condition failed."""

    rule: Rule
    matched: bool
    reason: str | None = None
    error: str | None = None


def explain(rules: list[Rule], record: EventRecord) -> list[Verdict]:
    """A verdict for every rule, in configuration order (for ``relay rules test``)."""
    context = event_context(record)
    verdicts = []
    for rule in rules:
        if not rule.on.matches(record.source, record.type):
            verdicts.append(Verdict(rule, False, reason=f"on {_describe(rule)} does not match"))
            continue
        try:
            holds = rule.condition is None or _holds(rule, context)
        except RuleError as exc:
            verdicts.append(Verdict(rule, False, reason="if failed", error=str(exc)))
            continue
        verdicts.append(Verdict(rule, holds, reason=None if holds else f"if is false: {rule.condition}"))
    return verdicts


def _describe(rule: Rule) -> str:
    return f"(source={_names(rule.on.source)}, event={_names(rule.on.event)})"


def _names(pattern: str | list[str]) -> str:
    return pattern if isinstance(pattern, str) else ",".join(pattern)


def check_rules(
    rules: list[Rule],
    *,
    targets: Collection[str],
    channels: Collection[str],
    sources: Collection[str] = (),
) -> list[str]:
    """Every problem of the rules, one line each naming the rule and the field; empty when all is well."""
    references = rule_references(rules, {"target": targets, "channel": channels})
    problems = [
        f"rule {name!r}: the name is used by {count} rules (results and Idempotency-Keys are keyed by it)"
        for name, count in references.duplicates.items()
    ]
    unknown = {(ref.rule, ref.index) for ref in references.unknown}
    for position, rule in enumerate(rules):
        problems.extend(f"rule {rule.name!r} {problem}" for problem in _rule_problems(rule, sources))
        for index, action in enumerate(rule.do):
            where = f"rule {rule.name!r} do[{index}]"
            if (position, index) in unknown:
                problems.append(f"{where}.{action.kind}: unknown {action.addresses} {action.address!r}")
            problems.extend(where + problem for problem in _action_problems(action))
    return problems


def _rule_problems(rule: Rule, sources: Collection[str]) -> Iterator[str]:
    names = [rule.on.source] if isinstance(rule.on.source, str) else rule.on.source
    for name in names:
        if sources and name != "*" and name not in sources:
            yield f"on.source: unknown source {name!r}"
    if rule.condition is not None:
        yield from _expression_problems("if", rule.condition, condition=True)


def _action_problems(action: Action) -> Iterator[str]:
    """An action's own problems, each starting with ``.field``."""
    runner = runner_for(action)
    for field, problem in runner.problems(action):
        yield f".{field}: {problem}"
    for field, value in runner.templates(action).items():
        for location, source in walk_strings(value, field):
            yield from _expression_problems(f".{location}", source)


def _expression_problems(where: str, source: str, *, condition: bool = False) -> Iterator[str]:
    if not condition and not is_template(source):
        return
    try:
        if condition:
            compile_condition(source)
        else:
            compile_template(source)
    except RuleError as exc:
        yield f"{where}: {exc}"
        return
    unknown = sorted(template_names(source, condition=condition) - CONTEXT_NAMES)
    if unknown:
        known = ", ".join(sorted(CONTEXT_NAMES))
        yield f"{where}: unknown name {', '.join(map(repr, unknown))} (a template can read {known})"
