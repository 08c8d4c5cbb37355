"""Git objects as the store reads them: commits (with their trailers), tree entries,
and the JSON a blob holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# "<full commit id>" and "<full commit id>:<path>": names whose object can never change
IMMUTABLE_NAME = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})(?::[^\n\0]+)?")
MODE_TREE = b"40000"


MODE_FILE = b"100644"


MODE_EXEC = b"100755"


@dataclass
class TreeEntry:
    """One entry of a tree object (raw mode, name and binary id)."""

    mode: bytes
    name: bytes
    sha: bytes  # raw


@dataclass
class Commit:
    """A commit object, parsed: ids, identities, message and trailers."""

    sha: str
    tree: str
    parents: list[str]
    author: bytes
    committer: bytes
    message: bytes
    trailers: dict[str, str] = field(default_factory=dict)
    commit_time: int = 0  # committer date, seconds since the epoch


def parse_trailers(message: bytes) -> dict[str, str]:
    """Trailers of the last paragraph (``Key: value`` lines), first value per key."""
    text = message.decode("utf-8", "replace").rstrip("\n")
    out: dict[str, str] = {}
    for line in text[text.rfind("\n\n") + 1 :].splitlines():
        key, sep, value = line.partition(": ")
        if sep and key and key.replace("-", "").isalnum() and key.isascii():
            out.setdefault(key, value.strip())
    return out


def parse_commit(sha: str, data: bytes) -> Commit:
    header, _, message = data.partition(b"\n\n")
    tree = ""
    parents: list[str] = []
    author = committer = b""
    for line in header.split(b"\n"):
        if line.startswith(b"tree "):
            tree = line[5:].decode()
        elif line.startswith(b"parent "):
            parents.append(line[7:].decode())
        elif line.startswith(b"author "):
            author = line[7:]
        elif line.startswith(b"committer "):
            committer = line[10:]
    when = int(committer.rsplit(b" ", 2)[-2]) if committer.count(b" ") >= 2 else 0
    return Commit(sha, tree, parents, author, committer, message, parse_trailers(message), when)


def blob_json(found: tuple[str, str, bytes] | None) -> dict[str, Any] | None:
    """The JSON object in a blob read by :meth:`Repository.read_many`, if it is one."""
    if not found or found[1] != "blob":
        return None
    try:
        obj = json.loads(found[2])
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None
