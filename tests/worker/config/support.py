"""Helpers of the configuration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.config import load_settings
from worker.errors import ConfigError


def load_error(config_file: Path, text: str) -> str:
    """Load ``text`` as the configuration; the error's message, checked to be one line naming the file."""
    config_file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert str(config_file) in message
    return message
