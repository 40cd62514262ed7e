"""The receiver as an import string for uvicorn: ``webhooks.asgi:app`` (settings from the environment)."""

from webhooks.app import create_app
from worker.celery_app import get_settings

app = create_app(get_settings())
