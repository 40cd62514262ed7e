"""The limits a repository's desired state must keep: the repository is hostile input, like a webhook body.

Each limit is checked before the work it bounds, and breaking one is a ``DesiredStateError`` naming the limit.

    limit                   default   what it bounds
    max_file_bytes          1 MiB     one file's size, checked before it is parsed
    max_files               200       files matched by ``paths``
    max_total_bytes         8 MiB     all matched files together
    max_resources           5000      resources of every type after merging (routes, credentials... each count)
    max_depth               32        nesting of mappings and lists in one file
    max_scalar_bytes        256 KiB   one string value (a certificate is a few KiB)

YAML anchors, aliases and merge keys (``<<``) are refused outright, so an alias bomb cannot expand.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.config.base import MiB

KiB = 1024


@dataclass(frozen=True)
class Limits:
    """The bounds one desired state is read within."""

    max_file_bytes: int = MiB
    max_files: int = 200
    max_total_bytes: int = 8 * MiB
    max_resources: int = 5000
    max_depth: int = 32
    max_scalar_bytes: int = 256 * KiB


DEFAULT_LIMITS = Limits()
