"""Rules and their actions, with the behaviour the worker asks of them (matching, addresses, unknown outcomes).

A new action kind: its model here (``kind``, ``addresses``, ``verb``, ``address``), and its runner in tasks/actions/.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import Discriminator, Field, Tag, field_validator

from worker.config.base import StrictModel
from worker.gitops.paths import check_pattern


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


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GROUP_NAME = re.compile(r"[^:\x00-\x1f]{1,200}")


class SyncEnv(StrictModel):
    """Which of the worker's environment variables a repository's ``${NAME}`` may read (``RELAY_*`` never)."""

    allow: list[str] = Field(default_factory=list, description="exact variable names")
    allow_prefix: list[str] = Field(default_factory=list, description="name prefixes, e.g. GATEWAY_")

    @field_validator("allow", "allow_prefix")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or not _VARIABLE.fullmatch(name):
                raise ValueError(f"{name!r} is not a variable name (or prefix)")
            if name.startswith("RELAY_") or "RELAY_".startswith(name):
                raise ValueError(f"{name!r} would give a repository Relay's own RELAY_* settings")
        return value


class SyncAction(StrictModel):
    """Keep a target's API7 gateway group equal to the ADC files of a repository's revision."""

    kind: ClassVar[str] = "sync"
    addresses: ClassVar[str] = "target"  # an api7 target
    verb: ClassVar[str] = "syncs"

    sync: str
    repo: str = Field(min_length=1, description="a repository of repos:")
    revision: str = Field(min_length=1, description="template: the commit, e.g. {{ payload.after }}")
    paths: list[str] = Field(default_factory=lambda: ["*.yaml"], min_length=1)
    gateway_group: str = "default"
    prune: bool = False
    allow_empty: bool = False
    self_heal: bool = False
    env: SyncEnv = Field(default_factory=SyncEnv)
    max_in_flight: int = Field(default=4, ge=1, le=32, description="writes sent at once")

    @field_validator("paths")
    @classmethod
    def _paths_stay_inside(cls, value: list[str]) -> list[str]:
        return [check_pattern(path) for path in value]

    @field_validator("gateway_group")
    @classmethod
    def _group_name(cls, value: str) -> str:
        if not _GROUP_NAME.fullmatch(value):
            raise ValueError("a gateway group name has 1 to 200 characters, no ':' or control characters")
        return value

    @property
    def address(self) -> str:
        """The target synced."""
        return self.sync

    @property
    def unknown_policy(self) -> UnknownPolicy:
        """A reconcile cut short is rerun: it re-reads the gateway and settles each write (``worker.gitops.apply``)."""
        return "retry"

    @property
    def description(self) -> str:
        """The sync as an operator checks it."""
        return f"{self.sync} gateway group {self.gateway_group!r} from {self.repo}"


# A new action kind: its model here (``kind``, ``addresses``, ``verb``, ``address``), and its runner in tasks/actions/.
Action = CallAction | NotifyAction | SyncAction
ACTION_KINDS: dict[str, type[Action]] = {model.kind: model for model in get_args(Action)}


def _action_keys() -> str:
    keys = [f"{kind!r} (a {model.addresses})" for kind, model in ACTION_KINDS.items()]
    return ", ".join(keys[:-1]) + f" or {keys[-1]}" if len(keys) > 1 else keys[0]


def _action_kind(value: Any) -> str | None:
    """The kind an action names by its key (``call: gw`` is a call); None for none or several."""
    if isinstance(value, dict):
        kinds = [kind for kind in ACTION_KINDS if kind in value]
        return kinds[0] if len(kinds) == 1 else None
    return getattr(value, "kind", None)


UNKNOWN_ACTION = f"an action needs one of {_action_keys()}"
# The kind is read first, so an action gets its own model's errors only; one line when it names no kind.
TaggedAction = Annotated[
    Annotated[CallAction, Tag("call")] | Annotated[NotifyAction, Tag("notify")] | Annotated[SyncAction, Tag("sync")],
    Discriminator(_action_kind, custom_error_type="action_kind", custom_error_message=UNKNOWN_ACTION),
]


class Rule(StrictModel):
    """When ``on`` matches and ``if`` holds, run ``do`` in order."""

    name: str = Field(min_length=1)
    on: RuleTrigger = Field(default_factory=RuleTrigger)
    condition: str | None = Field(default=None, alias="if")
    do: list[TaggedAction] = Field(min_length=1)
