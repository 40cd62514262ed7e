"""Reading one YAML file of a repository as hostile input: plain data plus the line of every value.

The file is composed into nodes (``yaml.compose``'s work, never ``yaml.load``'s) and turned into data here, so that:
an alias is refused the first time it is met (an alias bomb never expands), merge keys and explicit tags other than
YAML's plain types are refused, a key written twice in one mapping is an error (PyYAML keeps the last silently),
and nesting and string sizes stay within the ``Limits``. Booleans are YAML 1.2's (``true``/``false`` only), so
``on``/``yes`` stay strings as they do for ADC (a JavaScript YAML 1.2 parser).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from worker.config.files import Yaml12Loader
from worker.errors import DesiredStateError
from worker.gitops.limits import Limits

Path = tuple[str | int, ...]
_STR = "tag:yaml.org,2002:str"
_SCALARS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    _STR,
    "tag:yaml.org,2002:timestamp",  # kept as its text, as JSON has no date
}
_COLLECTIONS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


@dataclass
class Document:
    """One file's data and the line (from 1) where each value starts, by its path in the data."""

    name: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict, repr=False)

    def line_of(self, path: Path) -> int | None:
        """The line of the value at ``path``, or of the nearest enclosing value that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def parse_document(name: str, content: bytes, limits: Limits) -> Document:
    """Parse one file; ``DesiredStateError`` naming the file (and line) for anything refused."""
    if len(content) > limits.max_file_bytes:
        raise DesiredStateError(f"{name}: {len(content)} bytes, above the limit of {limits.max_file_bytes}")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise DesiredStateError(f"{name}: not UTF-8 text") from None
    loader = Yaml12Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise DesiredStateError(f"{name}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    finally:
        loader.dispose()
    document = Document(name, None)
    if node is not None:
        document.data = _Builder(document, loader, limits).build(node, (), 0)
    return document


class _Builder:
    def __init__(self, document: Document, loader: Yaml12Loader, limits: Limits) -> None:
        self.document = document
        self.loader = loader
        self.limits = limits
        self.seen: set[int] = set()

    def fail(self, node: Node, problem: str) -> DesiredStateError:
        return DesiredStateError(f"{self.document.name}:{node.start_mark.line + 1}: {problem}")

    def build(self, node: Node, path: Path, depth: int) -> Any:
        if id(node) in self.seen:
            # The composer hands an alias back as the very node it names: met twice means an alias.
            raise self.fail(node, "YAML anchors and aliases are not allowed")
        self.seen.add(id(node))
        if depth > self.limits.max_depth:
            raise self.fail(node, f"nested deeper than {self.limits.max_depth} levels")
        self.document.lines[path] = node.start_mark.line + 1
        if node.tag not in _COLLECTIONS and not isinstance(node, ScalarNode):
            raise self.fail(node, f"tag {node.tag!r} is not allowed")
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, index), depth + 1) for index, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node)

    def _mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(key_node, "YAML merge keys (<<) are not allowed")
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "a mapping key must be a plain value")
            key = self._scalar(key_node)
            key = key if isinstance(key, str) else str(key).lower() if isinstance(key, bool) else str(key)
            if key in result:
                raise self.fail(key_node, f"key {key!r} appears twice in one mapping")
            result[key] = self.build(value_node, (*path, key), depth + 1)
            self.document.lines[(*path, key)] = key_node.start_mark.line + 1  # the key's line reads best
        return result

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag not in _SCALARS:
            raise self.fail(node, f"tag {node.tag!r} is not allowed")
        if len(node.value) > self.limits.max_scalar_bytes:
            raise self.fail(node, f"a value longer than {self.limits.max_scalar_bytes} characters")
        if node.tag in (_STR, "tag:yaml.org,2002:timestamp"):
            return node.value
        return self.loader.construct_object(node, deep=True)
