"""Relay's configuration: one YAML file plus ``RELAY_*`` environment overrides, read through pydantic-settings.

``base`` (the strict model, units), ``files`` (the YAML file, ``${ENV}`` expansion), ``rules`` (rules and actions),
``checks`` (cross-references), ``models`` (``Settings`` and its parts), ``loading`` (``get_settings``). Import the
public names from here; the modules of this package import each other, never this package.
"""

from worker.config.base import DAY, MiB, StrictModel
from worker.config.checks import RuleReferences, UnknownReference, rule_references
from worker.config.files import (
    DEFAULT_CONFIG_PATH,
    YamlSource,
    config_path,
    parse_config_file,
    read_config_file,
    unset_references,
)
from worker.config.loading import get_settings, load_settings
from worker.config.models import (
    MIN_SECRET_LENGTH,
    TARGET_AUTH,
    AlertsConfig,
    CeleryConfig,
    ChannelConfig,
    ChannelKindName,
    DeadLettersConfig,
    Network,
    ReceiverConfig,
    RotationPolicy,
    Settings,
    SourceConfig,
    SourceKind,
    TargetAuth,
    TargetConfig,
    TargetKindName,
    TokensConfig,
)
from worker.config.rules import (
    ACTION_KINDS,
    Action,
    CallAction,
    NotifyAction,
    Rule,
    RuleTrigger,
    UnknownPolicy,
)

__all__ = [
    "ACTION_KINDS",
    "DAY",
    "DEFAULT_CONFIG_PATH",
    "MIN_SECRET_LENGTH",
    "TARGET_AUTH",
    "Action",
    "AlertsConfig",
    "CallAction",
    "CeleryConfig",
    "ChannelConfig",
    "ChannelKindName",
    "DeadLettersConfig",
    "MiB",
    "Network",
    "NotifyAction",
    "ReceiverConfig",
    "RotationPolicy",
    "Rule",
    "RuleReferences",
    "RuleTrigger",
    "Settings",
    "SourceConfig",
    "SourceKind",
    "StrictModel",
    "TargetAuth",
    "TargetConfig",
    "TargetKindName",
    "TokensConfig",
    "UnknownPolicy",
    "UnknownReference",
    "YamlSource",
    "config_path",
    "get_settings",
    "load_settings",
    "parse_config_file",
    "read_config_file",
    "rule_references",
    "unset_references",
]
