"""``relay up``'s terminal: new lines of its children's log files, readable on a terminal."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from worker.ops.logs import readable


class LogFollower:
    """New lines of every ``*.log`` in a directory, from where each file ended when the follower was made."""

    def __init__(self, directory: Path, *, text: bool) -> None:
        self.directory = directory
        self.text = text
        self._offsets = {path: path.stat().st_size for path in directory.glob("*.log")} if directory.is_dir() else {}
        self._partial: dict[Path, bytes] = {}

    def poll(self) -> list[str]:
        """The complete lines written since the last poll, each prefixed with its file's name."""
        lines: list[str] = []
        for path in sorted(self.directory.glob("*.log")) if self.directory.is_dir() else []:
            with path.open("rb") as handle:
                handle.seek(self._offsets.get(path, 0))
                chunk = self._partial.pop(path, b"") + handle.read()
                self._offsets[path] = handle.tell()
            *complete, rest = chunk.split(b"\n")
            if rest:
                self._partial[path] = rest
            lines += [self._line(path.stem, raw.decode("utf-8", "replace")) for raw in complete if raw.strip()]
        return lines

    def _line(self, name: str, raw: str) -> str:
        if not self.text:
            return raw
        with contextlib.suppress(ValueError):
            data = json.loads(raw)
            if isinstance(data, dict):
                return f"{name:<8} {readable(data)}"
        return f"{name:<8} {raw}"
