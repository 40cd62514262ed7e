"""A local stand-in for API7 Enterprise's admin API and CODING's open API (see `create_app`)."""

from worker.sandbox.app import create_app

__all__ = ["create_app"]
