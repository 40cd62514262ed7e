"""Relay's core: config/, store/, liveness/, ops/, targets/, channels/, tokens/ and the Celery app; cli/ and devtools/.

``celery -A worker`` finds the Celery app as ``worker.app``; it is imported on first use so that the CLI and
the receiver do not pay for Celery's import unless they need it.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from worker.celery_app import app

        return app
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
