"""Which generation of API7's admin API the sandbox stands in for, chosen when it starts.

- 3.2.x (the default; `admin-api.json` is its contract): service templates and routes at `/apisix/admin/services`
  and `/apisix/admin/routes` without a gateway group, made live with `POST /api/services/publish`; consumers, SSLs,
  global rules and plugin metadata per gateway group; no `GET /api/version` (404).
- 3.5 and later: runtime resources per gateway group (`?gateway_group_id=` on every call), `PUT` by id, and
  `GET /api/version` -> `{"value": "<version>"}`.
"""

from __future__ import annotations

import re

DEFAULT_VERSION = "3.2.14.6"  # the version of the vendored admin-api.json
VERSION_PATTERN = re.compile(r"^(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?$")
RUNTIME_SINCE = (3, 5)


def check_version(version: str) -> str:
    """Return `version` if it is a dotted API7 version (3.2.16, 3.5.0, 3.2.14.6); raise ValueError otherwise."""
    match = VERSION_PATTERN.fullmatch(version)
    if match is None:
        raise ValueError(f"not an API7 version: {version!r} (expected e.g. 3.2.16 or 3.5.0)")
    if (int(match[1]), int(match[2])) < (3, 2):
        raise ValueError(f"the sandbox stands in for API7 3.2 and later, not {version}")
    return version


def serves_runtime(version: str) -> bool:
    """Tell whether `version` has 3.5's runtime admin API (else 3.2's templates and publishing)."""
    match = VERSION_PATTERN.fullmatch(version)
    assert match is not None, version
    return (int(match[1]), int(match[2])) >= RUNTIME_SINCE
