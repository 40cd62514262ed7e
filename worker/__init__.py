"""Relay's core: settings, Redis, the Celery app, stores, admin API clients and the CLI.

``celery -A worker`` finds the Celery app as ``worker.app``; it is imported on first use so that the CLI and
the receiver do not pay for Celery's import unless they need it.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from worker.celery_app import app

        return app
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
