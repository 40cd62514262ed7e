"""Reading the configuration once per process: validation errors as one line per problem, secrets registered."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from worker.config.base import dotted
from worker.config.files import config_path
from worker.config.models import Settings
from worker.errors import ConfigError
from worker.ops.logs import register_model_secrets


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration, raising ``ConfigError`` with one line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # Only locations and messages, never the offending input: it may be a secret.
        problems = [
            f"{dotted(tuple(err['loc']))}: {str(err['msg']).removeprefix('Value error, ')}" for err in exc.errors()
        ]
        raise ConfigError(f"{config_path()}: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once; their secrets are masked in every log line from now on."""
    settings = load_settings()
    register_model_secrets(settings)
    return settings
