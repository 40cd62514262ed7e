"""The file itself (worker/config/files.py): YAML, its top level, ${ENV} references that are not set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.worker.config.support import load_error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: {gh: {kind: github, secret: ${UNSET_FOR_TEST}}}", "environment variable UNSET_FOR_TEST"),
        ("sources: [1, 2", "not valid YAML"),
        ("- just a list", "the top level must be a mapping"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key(config_file: Path, text: str, message: str) -> None:
    assert message in load_error(config_file, text)
