"""ADC's resource id rule (api7/adc ``docs/guides/resource-ids.md``), so that resources ADC made are recognised.

    resource            id when none is written
    service             sha1(name)
    route               sha1("<service name>.<route name>")
    stream route        sha1("<service name>.<stream route name>")
    upstream            sha1("<service name>.<upstream name>")
    consumer            username
    credential          sha1("<username>.<credential name>")
    ssl                 sha1(",".join(snis))
    global rule         the plugin name
    plugin metadata     the plugin name

An explicit ``id`` (``^[a-zA-Z0-9-_.]+$``, at most 256 characters; the models check it) always wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def sha1(text: str) -> str:
    """The hex SHA-1 of ``text`` (UTF-8), as ADC generates ids."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def resource_id(explicit: str | None, *names: str) -> str:
    """The explicit id, else the SHA-1 of the names joined by dots (a service: its name; a route: service.route)."""
    return explicit if explicit else sha1(".".join(names))


def ssl_id(explicit: str | None, snis: Sequence[str]) -> str:
    """The explicit id, else the SHA-1 of the SNIs joined by commas."""
    return explicit if explicit else sha1(",".join(snis))
