"""Reading a commit's tree and blobs straight from git's object store (``ls-tree``, ``cat-file --batch``)."""

from __future__ import annotations

from dataclasses import dataclass

from worker.errors import RepoNotFound, RepoUnavailable
from worker.repos.fetch import Fetcher

BLOB_MODES = {b"100644", b"100755", b"120000"}  # files, executables, symbolic links (read as blobs)


@dataclass(frozen=True)
class TreeEntry:
    """A blob in a commit's tree: its path (UTF-8), object id and size."""

    path: str
    oid: str
    size: int


def list_tree(fetcher: Fetcher, sha: str) -> list[TreeEntry]:
    """Every blob of the commit's tree, in path order; submodules (commits) and trees are left out."""
    result = fetcher.run(["ls-tree", "-r", "-l", "-z", "--full-tree", sha], check=False)
    if result.returncode != 0:
        raise RepoNotFound(f"repository {fetcher.repo}: commit {sha} has no readable tree")
    entries = []
    for record in result.stdout.split(b"\x00"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, oid, size = meta.split(maxsplit=3)
        if kind != b"blob" or mode not in BLOB_MODES:
            continue
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            raise RepoNotFound(f"repository {fetcher.repo}: a path at {sha} is not UTF-8: {raw_path[:100]!r}") from None
        entries.append(TreeEntry(path, oid.decode("ascii"), int(size)))
    return sorted(entries, key=lambda entry: entry.path)


def read_blobs(fetcher: Fetcher, entries: list[TreeEntry]) -> dict[str, bytes]:
    """The contents of the entries' blobs, by object id, in one ``cat-file --batch``."""
    if not entries:
        return {}
    wanted = sorted({entry.oid for entry in entries})
    result = fetcher.run(["cat-file", "--batch"], stdin="".join(f"{oid}\n" for oid in wanted).encode())
    out, position, contents = result.stdout, 0, {}
    for oid in wanted:
        end = out.index(b"\n", position)
        header = out[position:end].split()
        if len(header) != 3 or header[1] != b"blob" or header[0].decode() != oid:
            raise RepoUnavailable(f"repository {fetcher.repo}: object {oid} could not be read from the cache")
        size = int(header[2])
        contents[oid] = out[end + 1 : end + 1 + size]
        position = end + 1 + size + 1
    return contents
