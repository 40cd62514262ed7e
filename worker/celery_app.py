"""The Celery app: configured lazily from Relay's settings, tasks found by ``include=`` strings."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from worker.config import Settings, get_settings
from worker.errors import ConfigError
from worker.liveness.canary import CANARY_INTERVAL_SECONDS
from worker.ops.logs import configure_logging
from worker.store.messages import TaskMessageEncoder

EVENTS_QUEUE = "relay.events"
PROCESS_EVENT = "relay.process_event"
RECOVER_INTERVAL_SECONDS = 10.0


def celery_config(settings: Settings, *, redis_url: str | None = None) -> dict[str, Any]:
    """Celery settings that keep the design's guarantees (late acks, no loss on worker death, JSON only)."""
    from worker.store.connection import is_sentinel, resolve_redis_url

    url = redis_url or resolve_redis_url(settings)
    limits = settings.celery
    transport: dict[str, Any] = {
        "visibility_timeout": limits.visibility_timeout,
        # kombu scans for unacked messages past the visibility timeout this often (seconds).
        "unacked_restore_interval": max(1, min(10, limits.visibility_timeout // 10)),
        "unacked_restore_throttle": 1,
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
        "health_check_interval": 25,
    }
    broker_url = _sentinel_broker(settings, url, transport) if is_sentinel(url) else url
    return {
        "broker_url": broker_url,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "result_backend": None,
        "task_ignore_result": True,
        "task_default_queue": EVENTS_QUEUE,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "timezone": "UTC",
        "enable_utc": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": limits.concurrency,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # A second SIGTERM/Ctrl-C (cold shutdown) still gives running tasks this long before their messages are
        # handed back; a single SIGTERM is a warm shutdown that lets them finish (bounded by task_time_limit).
        "worker_soft_shutdown_timeout": float(min(30, limits.task_time_limit)),
        "worker_enable_soft_shutdown_on_idle": True,
        "task_time_limit": limits.task_time_limit,
        "task_soft_time_limit": max(1, limits.task_time_limit - 5),
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": beat_schedule(settings),
        "beat_max_loop_interval": 30,
    }


def _sentinel_broker(settings: Settings, url: str, transport: dict[str, Any]) -> str:
    """kombu's sentinel transport: the Sentinels in the URL, the master's name and the Sentinels' options aside."""
    from worker.store.connection import SentinelURL

    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    transport["master_name"] = settings.redis_sentinel_master
    sentinel_kwargs: dict[str, Any] = {"socket_timeout": 2, "socket_connect_timeout": 2}
    if settings.redis_sentinel_password is not None:
        sentinel_kwargs["password"] = settings.redis_sentinel_password.get_secret_value()
    transport["sentinel_kwargs"] = sentinel_kwargs  # explicit: the master's password never goes to the Sentinels
    return SentinelURL.parse(url).broker_url(password)


def beat_schedule(settings: Settings) -> dict[str, Any]:
    """Periodic jobs; each is safe to run twice."""
    schedule: dict[str, Any] = {
        "sweep-stranded-events": {"task": "relay.sweep_events", "schedule": 20.0},
        # Cheap (three reads of the unacked bookkeeping): often, so a dead worker's events resume within ~20 s.
        "recover-dead-workers": {"task": "relay.recover_workers", "schedule": RECOVER_INTERVAL_SECONDS},
        "worker-canary": {"task": "relay.canary", "schedule": CANARY_INTERVAL_SECONDS},
        "check-tokens": {"task": "relay.check_tokens", "schedule": float(settings.tokens.check_interval_seconds)},
        "check-alerts": {"task": "relay.check_alerts", "schedule": float(settings.alerts.interval_seconds)},
    }
    if settings.gitops.drift_interval_seconds:  # off unless configured
        schedule["check-drift"] = {"task": "relay.check_drift", "schedule": settings.gitops.drift_interval_seconds}
    return schedule


def private_app(settings: Settings, *, redis_url: str) -> Celery:
    """A Celery app configured from ``settings`` and ``redis_url`` alone, for building messages in-process.

    Unlike ``app``, it never reads the process's configuration (``get_settings``) and never becomes the current
    app, so a caller that was handed its settings (the receiver) does not depend on the environment.
    """
    return Celery("relay", set_as_current=False, config_source=celery_config(settings, redis_url=redis_url))


app = Celery(
    "relay",
    include=["tasks.process", "tasks.maintenance", "tasks.tokens", "tasks.liveness", "tasks.alerts", "tasks.gitops"],
)


@lru_cache(maxsize=1)
def event_messages() -> TaskMessageEncoder:
    """Encoder of ``process_event`` messages, pushed straight onto the events queue (sweeper, replays)."""
    return TaskMessageEncoder(app, PROCESS_EVENT, EVENTS_QUEUE)


def _settings_or_exit() -> Settings:
    # Celery's own commands (worker, beat) would print a traceback: an invalid configuration is one line instead.
    try:
        return get_settings()
    except ConfigError as exc:
        raise SystemExit(f"relay: {exc}") from None


app.add_defaults(lambda: celery_config(_settings_or_exit()))


def _structured_logging(**_: Any) -> None:
    configure_logging(_settings_or_exit().log_level)


# Connecting this signal replaces Celery's own logging set-up with Relay's JSON lines, secrets masked.
setup_logging.connect(_structured_logging)
