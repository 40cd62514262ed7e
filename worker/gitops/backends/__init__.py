"""Backends: one API7 generation each, chosen by the target's ``api7_version`` or by ``GET /api/version``.

base       Backend, Write, WritePhase; gateway group by exact name; version detection; labels
api7_35    API7 3.5 and later: runtime resources per gateway group, PUT by id
api7_32    API7 3.2: service and route templates, then publish
"""

from __future__ import annotations

from worker.gitops.backends.api7_32 import Api7V32Backend
from worker.gitops.backends.api7_35 import Api7Backend
from worker.gitops.backends.base import Backend, Write, WritePhase, detect_version, resolve_group
from worker.targets.caller import Caller
from worker.targets.envelopes import DEFAULT_PAGE_SIZE

__all__ = ["Backend", "Write", "WritePhase", "open_backend"]


def open_backend(
    client: Caller, group: str, version: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
) -> Backend:
    """The backend of the gateway group named ``group``: the configured version, else the one the API reports."""
    found = version or detect_version(client)
    group_id = resolve_group(client, group, page_size=page_size)
    kind = Api7V32Backend if found.startswith("3.") and _minor(found) < 5 else Api7Backend
    return kind(client, group_id, page_size=page_size)


def _minor(version: str) -> int:
    try:
        return int(version.split(".")[1])
    except (IndexError, ValueError):
        return 5
