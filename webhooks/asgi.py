"""The receiver as an import string for uvicorn: ``webhooks.asgi:app`` (settings from the environment).

Every process that imports it sets up Relay's logging (JSON lines, secrets masked) itself: the worker processes
of ``relay webhooks --workers N`` are fresh interpreters that inherit none of the parent's handlers.
"""

from webhooks.app import create_app
from worker.config import get_settings
from worker.ops.logs import configure_logging

settings = get_settings()  # also registers the configuration's secrets for masking
configure_logging(settings.log_level)
app = create_app(settings)
