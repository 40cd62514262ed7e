"""Relay's configuration: one YAML file plus ``RELAY_*`` environment overrides, read through pydantic-settings.

Secrets are written as ``${ENV_NAME}`` (expanded from the environment when the file is read) and held as
``SecretStr`` so that a repr, a log line or an error never shows them.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from worker.errors import ConfigError
from worker.logs import register_model_secrets
from worker.repos.config import RepoConfig

DEFAULT_CONFIG_PATH = Path("relay.yaml")
MiB = 1024 * 1024
DAY = 86400

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# ``${NAME}`` is not valid YAML inside a flow mapping (``{secret: ${X}}``), so references are swapped for a
# plain-scalar placeholder before parsing and expanded afterwards; secret values never pass through the parser.
_PLACEHOLDER = re.compile(r"__relay_env_([A-Za-z_][A-Za-z0-9_]*)__")

Network = IPv4Network | IPv6Network


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false, so a rule's ``on:`` key stays the string ``on``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Model(BaseModel):
    """Strict base: unknown keys are errors, so a typo in the file is reported, not ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# A webhook secret shorter than this is guessable or a placeholder (one space was once accepted).
MIN_SECRET_LENGTH = 16

SourceKind = Literal["github", "gitlab", "gitea", "bitbucket", "coding", "standard", "hmac", "none"]


class SourceConfig(_Model):
    """One webhook sender, served at ``/hooks/<name>``."""

    kind: SourceKind
    secret: SecretStr | None = None
    secrets: list[SecretStr] = Field(default_factory=list, description="extra active secrets, for rotation")
    allow: list[Network] = Field(default_factory=list, description="allowed sender networks (CIDR)")
    trusted_proxies: list[Network] = Field(default_factory=list)
    max_body_bytes: int = Field(default=MiB, gt=0)
    dedup_window_seconds: int = Field(default=3 * DAY, gt=0)
    # Token bucket per source (per receiver process): sustained deliveries per second and the burst above it.
    rate_per_second: float = Field(default=50, gt=0)
    burst: int = Field(default=200, ge=1)
    # Events of this source not yet finished, at most: past it deliveries get 429, so one compromised sender
    # cannot fill Redis (which, with noeviction, would then refuse every source).
    max_waiting: int = Field(default=10_000, ge=1)
    # body: deduplicate on a hash of the signed body rather than the sender's delivery id (which GitHub, Gitea and
    # Bitbucket do not sign), so a captured delivery cannot be replayed under a new id within the dedup window.
    dedup_by: Literal["delivery", "body"] = "delivery"
    # kind: hmac (and the Standard Webhooks kinds' event field)
    header: str | None = None
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    tolerance_seconds: int = Field(default=300, gt=0)
    event_header: str | None = None
    event_field: str | None = None
    delivery_header: str | None = None

    @property
    def all_secrets(self) -> list[SecretStr]:
        """The primary secret followed by the extra ones."""
        return ([self.secret] if self.secret else []) + list(self.secrets)

    @model_validator(mode="after")
    def _check_kind(self) -> SourceConfig:
        if self.kind == "none":
            if not self.allow:
                raise ValueError("kind 'none' (no signature) is only allowed together with an 'allow' list")
        elif not self.all_secrets:
            raise ValueError(f"kind {self.kind!r} needs a 'secret'")
        if self.kind == "hmac" and not self.header:
            raise ValueError("kind 'hmac' needs 'header' (the signature header's name)")
        return self


TargetKind = Literal["api7", "coding", "bearer", "gitlab", "github", "gitea"]


class TargetConfig(_Model):
    """An admin API that rules call, with the name of the system token it uses."""

    kind: TargetKind
    base_url: AnyHttpUrl
    token: str | None = Field(default=None, description="token name in the token store; default: target name")
    token_secret: SecretStr | None = Field(default=None, description="seeds the token store on first start")
    auth: Literal["header", "cookie", "bearer", "basic"] | None = None
    basic_user: str | None = None
    token_path_prefix: str = "/api/settings/tokens"  # noqa: S105 (a URL path)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=10.0, gt=0)
    rotate: bool | None = Field(default=None, description="rotate the token automatically (api7, gitlab)")
    verify_tls: bool = True
    # kind github as a GitHub App: the token store keeps the App's private key (PEM) under ``token``, and Relay
    # mints the installation's one-hour tokens with it.
    app_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    installation_id: int | None = Field(default=None, gt=0)

    @property
    def auth_mode(self) -> str:
        """How the token is sent: the configured mode, or the kind's usual one."""
        from worker.targets.kinds import KINDS  # lazy: kinds imports this module

        return self.auth or KINDS[self.kind].default_auth

    @property
    def can_rotate(self) -> bool:
        """Whether Relay may rotate this target's token through its API."""
        from worker.targets.kinds import KINDS  # lazy: kinds imports this module

        able = KINDS[self.kind].can_rotate
        return able if self.rotate is None else (self.rotate and able)

    @model_validator(mode="after")
    def _check_auth(self) -> TargetConfig:
        from worker.targets.kinds import KINDS  # lazy: kinds imports this module

        if self.auth_mode not in KINDS[self.kind].auth_modes:
            raise ValueError(f"auth {self.auth_mode!r} is not valid for kind {self.kind!r}")
        if self.auth_mode == "basic" and not self.basic_user:
            raise ValueError("auth 'basic' needs 'basic_user' (the account the token belongs to)")
        if self.rotate and not KINDS[self.kind].can_rotate:
            raise ValueError(f"kind {self.kind!r} cannot rotate tokens through its API")
        if (self.app_id is None) != (self.installation_id is None):
            raise ValueError("a GitHub App needs both app_id and installation_id")
        if self.app_id is not None and self.kind != "github":
            raise ValueError("app_id and installation_id are for kind 'github' (a GitHub App)")
        return self


ChannelKind = Literal["slack", "wecom", "dingtalk", "feishu", "webhook"]


class ChannelConfig(_Model):
    """Where notifications go. The URL often embeds a credential, so it is held as a secret."""

    kind: ChannelKind
    url: SecretStr
    secret: SecretStr | None = Field(default=None, description="signing secret (dingtalk, feishu)")
    msgtype: Literal["text", "markdown"] = Field(default="text", description="wecom message type")
    timeout: float = Field(default=5.0, gt=0)


class RuleTrigger(_Model):
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


class CallAction(_Model):
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


class NotifyAction(_Model):
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


# A new action kind: its model here (``kind``, ``addresses``, ``verb``, ``address``), and its runner in tasks/actions/.
Action = CallAction | NotifyAction
ACTION_KINDS: dict[str, type[CallAction | NotifyAction]] = {model.kind: model for model in get_args(Action)}


class Rule(_Model):
    """When ``on`` matches and ``if`` holds, run ``do`` in order."""

    name: str = Field(min_length=1)
    on: RuleTrigger = Field(default_factory=RuleTrigger)
    condition: str | None = Field(default=None, alias="if")
    do: list[Action] = Field(min_length=1)


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


class RotationPolicy(_Model):
    """When to rotate: below a fraction of the lifetime left, or past a maximum age."""

    before_fraction: float = Field(default=0.33, gt=0, lt=1)
    max_age_days: float = Field(default=90, gt=0)
    new_lifetime_days: float = Field(default=30, gt=0)


class TokensConfig(_Model):
    """Token lifecycle settings."""

    warn_days: list[int] = Field(default_factory=lambda: [60, 30, 7, 1])
    rotate: RotationPolicy = Field(default_factory=RotationPolicy)
    channels: list[str] = Field(default_factory=list, description="channels for warnings; default: all")
    check_interval_seconds: int = Field(default=3600, ge=10)
    lock_seconds: int = Field(default=120, ge=5)


class ReceiverConfig(_Model):
    """Where ``relay webhooks`` listens, and the limits a public endpoint needs."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # h11 buffers at most this much of a request head (request line and headers); past it uvicorn answers 400.
    max_header_bytes: int = Field(default=64 * 1024, ge=4096)
    # Connections and requests served at once per process; past it uvicorn answers 503.
    limit_concurrency: int = Field(default=1000, ge=1)
    timeout_keep_alive: int = Field(default=5, ge=1)
    # Set: /metrics answers only ``Authorization: Bearer <token>``, so the public port does not show token names.
    metrics_token: SecretStr | None = None


class CeleryConfig(_Model):
    """Queue settings; the time limits and retry delays stay below the visibility timeout."""

    visibility_timeout: int = Field(default=3600, ge=30)
    task_time_limit: int = Field(default=300, ge=5)
    max_retries: int = Field(default=8, ge=0)
    # Runs of one event cut short with nothing recorded (its worker killed each time): past this, a poison event.
    max_deliveries: int = Field(default=5, ge=1)
    retry_backoff_max: int = Field(default=600, ge=1)
    concurrency: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _limits_below_visibility(self) -> CeleryConfig:
        if self.task_time_limit >= self.visibility_timeout:
            raise ValueError("task_time_limit must be below visibility_timeout, or tasks are redelivered twice")
        if self.retry_backoff_max + self.task_time_limit >= self.visibility_timeout:
            # A retry's message sits unacknowledged for its delay and then while it runs: both must fit.
            raise ValueError("retry_backoff_max + task_time_limit must be below visibility_timeout")
        return self


class DeadLettersConfig(_Model):
    """How long dead letters are kept and how many at most (the oldest go first)."""

    retention_days: float = Field(default=30, gt=0)
    max_entries: int = Field(default=100_000, ge=1)

    @property
    def retention_seconds(self) -> int:
        """The retention period in whole seconds."""
        return int(self.retention_days * DAY)


class AlertsConfig(_Model):
    """Alerts to one channel: dead letters (one message per interval), a queue waiting too long, no consumer."""

    channel: str | None = Field(default=None, description="a key of channels; unset: no alerts")
    interval_seconds: float = Field(default=60, ge=10, description="how often beat checks; dead letters batch")
    max_wait_seconds: float = Field(default=300, gt=0, description="the oldest waiting event older than this")
    no_consumer_seconds: float = Field(default=120, gt=0, description="no worker ran the canary for this long")
    dead_letters: bool = True


class Settings(BaseSettings):
    """Everything Relay reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="RELAY_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )

    redis_url: str | None = Field(
        default=None, description="absent: an embedded Redis is started; sentinel://h1:26379;sentinel://h2:26379/0"
    )
    redis_sentinel_master: str | None = Field(default=None, description="the master's name, for a sentinel:// URL")
    redis_password: SecretStr | None = Field(default=None, description="Redis' password (with a sentinel:// URL)")
    redis_sentinel_password: SecretStr | None = Field(default=None, description="the Sentinels' own password")
    data_dir: Path = Path(".relay")
    retention_days: float = Field(default=7, gt=0)
    dead_letters: DeadLettersConfig = Field(default_factory=DeadLettersConfig)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    receiver: ReceiverConfig = Field(default_factory=ReceiverConfig)
    celery: CeleryConfig = Field(default_factory=CeleryConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    targets: dict[str, TargetConfig] = Field(default_factory=dict)
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    repos: dict[str, RepoConfig] = Field(default_factory=dict)
    tokens: TokensConfig = Field(default_factory=TokensConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    @field_validator("sources", "targets", "channels", "repos")
    @classmethod
    def _names_are_url_safe(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                raise ValueError(f"name {name!r} may hold only letters, digits, '.', '_' and '-'")
        return value

    @model_validator(mode="after")
    def _webhook_secrets_are_long(self) -> Settings:
        # Here, not on SourceConfig: the file's secrets are what a sender must guess (unit tests build short ones).
        for name, source in self.sources.items():
            if any(len(secret.get_secret_value().strip()) < MIN_SECRET_LENGTH for secret in source.all_secrets):
                raise ValueError(f"sources.{name}: a secret is blank or shorter than {MIN_SECRET_LENGTH} characters")
        return self

    @model_validator(mode="after")
    def _sentinel_has_a_master(self) -> Settings:
        if (self.redis_url or "").startswith("sentinel://") and not self.redis_sentinel_master:
            raise ValueError("redis_url: a sentinel:// URL needs redis_sentinel_master (RELAY_REDIS_SENTINEL_MASTER)")
        return self

    @model_validator(mode="after")
    def _references_exist(self) -> Settings:
        references = rule_references(self.rules, {"target": self.targets, "channel": self.channels})
        if references.duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(map(repr, sorted(references.duplicates)))}")
        if references.unknown:
            first = references.unknown[0]
            raise ValueError(f"rule {self.rules[first.rule].name!r} {first}")
        soft_limit = self.celery.task_time_limit - 5
        for name, target in self.targets.items():
            if target.connect_timeout + target.read_timeout >= soft_limit:
                # Else a slow call is cut by the task's time limit instead of its own timeout.
                raise ValueError(
                    f"targets.{name}: connect_timeout + read_timeout must stay below celery.task_time_limit - 5"
                    f" ({soft_limit:g}s)"
                )
        for channel in self.tokens.channels:
            if channel not in self.channels:
                raise ValueError(f"tokens.channels names unknown channel {channel!r}")
        if self.alerts.channel is not None and self.alerts.channel not in self.channels:
            raise ValueError(f"alerts.channel names unknown channel {self.alerts.channel!r}")
        problems = repo_problems(self)
        if problems:
            raise ValueError(problems[0])
        return self

    @property
    def retention_seconds(self) -> int:
        """How long an event record is kept, in whole seconds."""
        return int(self.retention_days * DAY)

    @cached_property
    def token_names(self) -> dict[str, str]:
        """Target name to the name of its token in the store."""
        return {name: target.token or name for name, target in self.targets.items()}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Order is precedence: explicit arguments, then RELAY_* variables, then the YAML file.
        return init_settings, env_settings, _YamlSource(settings_cls)


def repo_problems(settings: Settings) -> list[str]:
    """Repositories naming a token no target uses (every token in the store belongs to a target)."""
    known = set(settings.token_names.values())
    return [
        f"repos.{name}.token: unknown token {repo.token!r} (no target uses it: set targets.<name>.token: {repo.token})"
        for name, repo in settings.repos.items()
        if repo.token not in known
    ]


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the file named by ``RELAY_CONFIG`` (default ``./relay.yaml``), expanding ``${ENV}`` references."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._data = read_config_file(config_path())

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def config_path() -> Path:
    """The configuration file in force: ``RELAY_CONFIG`` or ``./relay.yaml``."""
    return Path(os.environ.get("RELAY_CONFIG") or DEFAULT_CONFIG_PATH)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the YAML file and expand ``${ENV}``; a missing default file is an empty configuration."""
    data = parse_config_file(path)
    try:
        expanded = _expand(data, ())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    assert isinstance(expanded, dict)
    return expanded


def parse_config_file(path: Path) -> dict[str, Any]:
    """Parse the YAML file, leaving ``${ENV}`` references unexpanded (as placeholders ``_expand`` knows)."""
    if not path.exists():
        if os.environ.get("RELAY_CONFIG"):
            raise ConfigError(f"{path}: configuration file not found")
        return {}
    try:
        text = _ENV_REFERENCE.sub(r"__relay_env_\1__", path.read_text(encoding="utf-8"))
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    return data


def unset_references(path: Path) -> list[tuple[str, str]]:
    """``(key, variable)`` for every ``${VARIABLE}`` in the file that the environment does not set."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, where: tuple[str | int, ...]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*where, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*where, index))
        elif isinstance(value, str):
            found.extend((_dotted(where), name) for name in _PLACEHOLDER.findall(value) if os.environ.get(name) is None)

    walk(parse_config_file(path), ())
    return found


def _expand(value: Any, where: tuple[str | int, ...]) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, (*where, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, (*where, index)) for index, item in enumerate(value)]
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda match: _env_value(match.group(1), where), value)
    return value


def _env_value(name: str, where: tuple[str | int, ...]) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"{_dotted(where)}: environment variable {name} is not set")
    return value


def _dotted(where: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in where) or "(top level)"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration, raising ``ConfigError`` with one line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # Only locations and messages, never the offending input: it may be a secret.
        problems = [
            f"{_dotted(tuple(err['loc']))}: {str(err['msg']).removeprefix('Value error, ')}" for err in exc.errors()
        ]
        raise ConfigError(f"{config_path()}: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once; their secrets are masked in every log line from now on."""
    settings = load_settings()
    register_model_secrets(settings)
    return settings
