"""Command-line value types shared by the ``relay`` commands."""

from __future__ import annotations

import re
from typing import Any

import click

_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Age(click.ParamType):  # type: ignore[type-arg]
    """A duration such as ``7d``, ``12h``, ``30m``, ``45s`` or ``2w``, converted to seconds."""

    name = "age"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """Seconds in ``value``; a usage error naming the accepted forms otherwise."""
        if isinstance(value, int | float):
            return float(value)
        match = _AGE.fullmatch(str(value).strip().lower())
        if match is None:
            self.fail(f"{value!r} is not a duration like 7d, 12h, 30m, 45s or 2w", param, ctx)
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
