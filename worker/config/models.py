"""Relay's configuration models: ``Settings`` and its sources, targets, channels, tokens and limits.

``Settings`` reads the YAML file (``worker.config.files``) under ``RELAY_*`` environment overrides. Secrets are held
as ``SecretStr`` so that a repr, a log line or an error never shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from worker.config.base import DAY, MiB, StrictModel
from worker.config.checks import repo_token_problems, rule_references, sync_repo_problems
from worker.config.files import YamlSource
from worker.config.rules import Rule, SyncAction
from worker.repos.config import RepoConfig

Network = IPv4Network | IPv6Network


# A webhook secret shorter than this is guessable or a placeholder (one space was once accepted).
MIN_SECRET_LENGTH = 16

SourceKind = Literal["github", "gitlab", "gitea", "bitbucket", "coding", "standard", "hmac", "none"]


class SourceConfig(StrictModel):
    """One webhook sender, served at ``/hooks/<name>``."""

    kind: SourceKind
    secret: SecretStr | None = None
    secrets: list[SecretStr] = Field(default_factory=list, description="extra active secrets, for rotation")
    allow: list[Network] = Field(default_factory=list, description="allowed sender networks (CIDR)")
    trusted_proxies: list[Network] = Field(default_factory=list)
    max_body_bytes: int = Field(default=MiB, gt=0)
    dedup_window_seconds: int = Field(default=3 * DAY, gt=0)
    # Token bucket per source (per receiver process), only when a rate is set: sustained deliveries per second and
    # the burst above it. None by default: a real sender refused with 429 loses the event (GitHub never redelivers
    # by itself, GitLab disables a hook after 4 failures), and one push can send hundreds of deliveries in seconds;
    # ``max_waiting`` is what guards Redis.
    rate_per_second: float | None = Field(default=None, gt=0)
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


TargetKindName = Literal["api7", "coding", "bearer", "gitlab", "github", "gitea"]


@dataclass(frozen=True)
class TargetAuth:
    """How a kind of target may be authenticated, as far as the configuration may say it."""

    modes: frozenset[str]
    default: str
    can_rotate: bool = False  # Relay can rotate its token through the target's own API


# Configuration facts of each target kind, checked when the file is read; their behaviour is worker.targets.kinds.
TARGET_AUTH: dict[str, TargetAuth] = {
    "api7": TargetAuth(frozenset({"header", "cookie"}), "header", can_rotate=True),
    "coding": TargetAuth(frozenset({"bearer", "basic"}), "bearer"),
    "bearer": TargetAuth(frozenset({"bearer"}), "bearer"),
    "gitlab": TargetAuth(frozenset({"header", "bearer"}), "header", can_rotate=True),  # header: PRIVATE-TOKEN
    "github": TargetAuth(frozenset({"bearer"}), "bearer"),
    "gitea": TargetAuth(frozenset({"bearer"}), "bearer"),
}


class TargetConfig(StrictModel):
    """An admin API that rules call, with the name of the system token it uses."""

    kind: TargetKindName
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
    # api7: which admin API generation (3.2: service templates and publish; 3.5 and later: runtime resources per
    # gateway group); unset: found with GET /api/version (404 means 3.2).
    api7_version: str | None = Field(default=None, pattern=r"^3\.[0-9]+$")

    @property
    def auth_mode(self) -> str:
        """How the token is sent: the configured mode, or the kind's usual one."""
        return self.auth or TARGET_AUTH[self.kind].default

    @model_validator(mode="after")
    def _check_auth(self) -> TargetConfig:
        if self.auth_mode not in TARGET_AUTH[self.kind].modes:
            raise ValueError(f"auth {self.auth_mode!r} is not valid for kind {self.kind!r}")
        if self.auth_mode == "basic" and not self.basic_user:
            raise ValueError("auth 'basic' needs 'basic_user' (the account the token belongs to)")
        if self.rotate and not TARGET_AUTH[self.kind].can_rotate:
            raise ValueError(f"kind {self.kind!r} cannot rotate tokens through its API")
        if (self.app_id is None) != (self.installation_id is None):
            raise ValueError("a GitHub App needs both app_id and installation_id")
        if self.app_id is not None and self.kind != "github":
            raise ValueError("app_id and installation_id are for kind 'github' (a GitHub App)")
        return self


ChannelKindName = Literal["slack", "wecom", "dingtalk", "feishu", "webhook"]


class ChannelConfig(StrictModel):
    """Where notifications go. The URL often embeds a credential, so it is held as a secret."""

    kind: ChannelKindName
    url: SecretStr
    secret: SecretStr | None = Field(default=None, description="signing secret (dingtalk, feishu)")
    msgtype: Literal["text", "markdown"] = Field(default="text", description="wecom message type")
    timeout: float = Field(default=5.0, gt=0)


class RotationPolicy(StrictModel):
    """When to rotate: below a fraction of the lifetime left, or past a maximum age."""

    before_fraction: float = Field(default=0.33, gt=0, lt=1)
    max_age_days: float = Field(default=90, gt=0)
    new_lifetime_days: float = Field(default=30, gt=0)


class TokensConfig(StrictModel):
    """Token lifecycle settings."""

    warn_days: list[int] = Field(default_factory=lambda: [60, 30, 7, 1])
    rotate: RotationPolicy = Field(default_factory=RotationPolicy)
    channels: list[str] = Field(default_factory=list, description="channels for warnings; default: all")
    check_interval_seconds: int = Field(default=3600, ge=10)
    lock_seconds: int = Field(default=120, ge=5)


class ReceiverConfig(StrictModel):
    """Where ``relay webhooks`` listens, and the limits a public endpoint needs."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # The receiver reads at most this much of a request head (request line and headers); past it: 431, closed.
    max_header_bytes: int = Field(default=64 * 1024, ge=4096)
    # Connections and requests served at once per process; past it uvicorn answers 503.
    limit_concurrency: int = Field(default=1000, ge=1)
    timeout_keep_alive: int = Field(default=5, ge=1)
    # Set: /metrics and /status need it (Bearer, or Basic's password), so the public port does not show token names.
    metrics_token: SecretStr | None = None
    # Where operators reach this receiver (https://relay.example.com): commit statuses link to the event's story there.
    public_url: AnyHttpUrl | None = None


class CeleryConfig(StrictModel):
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


class DeadLettersConfig(StrictModel):
    """How long dead letters are kept and how many at most (the oldest go first)."""

    retention_days: float = Field(default=30, gt=0)
    max_entries: int = Field(default=100_000, ge=1)

    @property
    def retention_seconds(self) -> int:
        """The retention period in whole seconds."""
        return int(self.retention_days * DAY)


class AlertsConfig(StrictModel):
    """Alerts to one channel: dead letters (one message per interval), a queue waiting too long, no consumer."""

    channel: str | None = Field(default=None, description="a key of channels; unset: no alerts")
    interval_seconds: float = Field(default=60, ge=10, description="how often beat checks; dead letters batch")
    max_wait_seconds: float = Field(default=300, gt=0, description="the oldest waiting event older than this")
    no_consumer_seconds: float = Field(default=120, gt=0, description="no worker ran the canary for this long")
    dead_letters: bool = True


class GitOpsConfig(StrictModel):
    """GitOps settings beyond each sync action's."""

    # Plan every synced group against its last applied revision this often (read-only; self_heal re-applies).
    drift_interval_seconds: float | None = Field(default=None, ge=30, description="unset: no drift checks")


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
    gitops: GitOpsConfig = Field(default_factory=GitOpsConfig)

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
        _syncs_are_api7(self.rules, self.targets)
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
        problems = sync_repo_problems(self.rules, self.repos) + repo_token_problems(
            self.repos, self.token_names.values()
        )
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
        return init_settings, env_settings, YamlSource(settings_cls)


def _syncs_are_api7(rules: list[Rule], targets: dict[str, TargetConfig]) -> None:
    """A sync keeps an API7 gateway group: its target must be an api7 one."""
    for rule in rules:
        for action in rule.do:
            if isinstance(action, SyncAction) and targets[action.sync].kind != "api7":
                raise ValueError(f"rule {rule.name!r} syncs target {action.sync!r}, which is no api7 target")
