"""What every configuration model shares: the strict base, the units, the way a key is named in an error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

MiB = 1024 * 1024
DAY = 86400


class StrictModel(BaseModel):
    """Strict base: unknown keys are errors, so a typo in the file is reported, not ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def dotted(where: tuple[str | int, ...]) -> str:
    """A key's location as the file spells it: ``sources.gh.secret``."""
    return ".".join(str(part) for part in where) or "(top level)"
