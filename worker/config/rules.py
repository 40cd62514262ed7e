"""Rules and their actions, with the behaviour the worker asks of them (matching, addresses, unknown outcomes).

A new action kind: its model here (``kind``, ``addresses``, ``verb``, ``address``), and its runner in tasks/actions/.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from pydantic import Field, field_validator

from worker.config.base import StrictModel


class RuleTrigger(StrictModel):
    """Which events a rule reacts to: names or lists of names, ``*`` for any."""

    source: str | list[str] = "*"
    event: str | list[str] = "*"

    def matches(self, source: str, event: str) -> bool:
        """True when both the source and the event type match."""
        return _name_matches(self.source, source) and _name_matches(self.event, event)


def _name_matches(pattern: str | list[str], value: str) -> bool:
    names = [pattern] if isinstance(pattern, str) else pattern
    return "*" in names or value in names


UnknownPolicy = Literal["dead_letter", "retry"]


class CallAction(StrictModel):
    """Call a target's admin API."""

    kind: ClassVar[str] = "call"  # also the key that names the action's address
    addresses: ClassVar[str] = "target"  # what the address names (a key of ``Settings.targets``)
    verb: ClassVar[str] = "calls"

    call: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str
    query: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default=None, alias="json")
    save_as: str | None = None
    requires: list[str] = Field(default_factory=list, description="token scopes, resource:scope:ro|rw")
    on_unknown: UnknownPolicy | None = Field(
        default=None, description="a call cut short with no answer: dead_letter (POST/PATCH default) or retry"
    )

    @field_validator("path")
    @classmethod
    def _path_is_relative(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/' (it is appended to the target's base_url)")
        return value

    @property
    def address(self) -> str:
        """The target called."""
        return self.call

    @property
    def unknown_policy(self) -> UnknownPolicy:
        """What a rerun does when this call was sent and no answer came back."""
        if self.on_unknown is not None:
            return self.on_unknown
        return "dead_letter" if self.method in ("POST", "PATCH") else "retry"

    @property
    def description(self) -> str:
        """The call as an operator checks it: target, method and path template."""
        return f"{self.call} {self.method} {self.path}"


class NotifyAction(StrictModel):
    """Send a message to a channel."""

    kind: ClassVar[str] = "notify"
    addresses: ClassVar[str] = "channel"  # a key of ``Settings.channels``
    verb: ClassVar[str] = "notifies"

    notify: str
    text: str

    @property
    def address(self) -> str:
        """The channel notified."""
        return self.notify

    @property
    def unknown_policy(self) -> UnknownPolicy:
        """A message that may have been posted is sent again: a duplicate notification beats a lost one."""
        return "retry"

    @property
    def description(self) -> str:
        """The notification as an operator checks it."""
        return f"channel {self.notify}"


Action = CallAction | NotifyAction
ACTION_KINDS: dict[str, type[CallAction | NotifyAction]] = {model.kind: model for model in get_args(Action)}


class Rule(StrictModel):
    """When ``on`` matches and ``if`` holds, run ``do`` in order."""

    name: str = Field(min_length=1)
    on: RuleTrigger = Field(default_factory=RuleTrigger)
    condition: str | None = Field(default=None, alias="if")
    do: list[Action] = Field(min_length=1)
