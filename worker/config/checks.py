"""Cross-reference checks (rules, repositories): what both the settings' validation and ``relay rules check`` ask."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from worker.config.rules import Action, Rule, SyncAction
from worker.repos.config import RepoConfig


@dataclass(frozen=True)
class UnknownReference:
    """An action that names a target or channel the configuration does not have."""

    rule: int  # position of the rule in ``rules``
    index: int  # position of the action in the rule's ``do``
    action: Action

    def __str__(self) -> str:
        return f"{self.action.verb} unknown {self.action.addresses} {self.action.address!r}"


@dataclass(frozen=True)
class RuleReferences:
    """What ``rule_references`` found: rule names used more than once (with their counts), unknown references."""

    duplicates: dict[str, int]
    unknown: list[UnknownReference]


def rule_references(rules: list[Rule], known: Mapping[str, Collection[str]]) -> RuleReferences:
    """Duplicate rule names and unknown references, in configuration order; ``known``: names per ``addresses``.

    The one check behind both the settings' validation and ``relay rules check``.
    """
    # Action results and Idempotency-Keys are keyed by rule name: two rules must not share one.
    counts = Counter(rule.name for rule in rules)
    unknown = [
        UnknownReference(position, index, action)
        for position, rule in enumerate(rules)
        for index, action in enumerate(rule.do)
        if action.address not in known.get(action.addresses, ())
    ]
    return RuleReferences({name: count for name, count in counts.items() if count > 1}, unknown)


def sync_repo_problems(rules: list[Rule], repos: Collection[str]) -> list[str]:
    """Sync actions naming a repository that ``repos:`` does not have, in configuration order."""
    return [
        f"rule {rule.name!r} syncs from unknown repository {action.repo!r} (add it under repos:)"
        for rule in rules
        for action in rule.do
        if isinstance(action, SyncAction) and action.repo not in repos
    ]


def repo_token_problems(repos: Mapping[str, RepoConfig], token_names: Collection[str]) -> list[str]:
    """Repositories naming a token no target uses (every token in the store belongs to a target)."""
    known = set(token_names)
    return [
        f"repos.{name}.token: unknown token {repo.token!r} (no target uses it: set targets.<name>.token: {repo.token})"
        for name, repo in repos.items()
        if repo.token not in known
    ]
