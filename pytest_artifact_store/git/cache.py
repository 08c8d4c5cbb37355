"""The listing cache: ``.git/artifact-store/json-cache``, a memo of what large reads
learned from immutable objects (decoded metadata.json by ``<commit>:<path>``, walk
facts by commit id).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_artifact_store.git.objects import IMMUTABLE_NAME, Commit


class JsonCache:
    """What large reads learned from immutable objects, kept on disk for the next one.

    Two kinds of entry: ``<commit id>:<path>`` holds the JSON object decoded from that
    blob (None if it is not one), and ``<commit id>`` holds what a history walk needs
    of that commit (parents, commit time, trailers). A commit id fixes its content and
    tree, so no entry can go stale: the file is a memo of ``git cat-file``/``git log``.
    Each line is one batch, ``[["<name>", <object or null>], ...]``, appended by one
    write as a read learns new names. Any process may append; a torn or foreign line
    is skipped on load; deleting the file is always safe (it is rebuilt on the next
    large read). Failures to read or write it are ignored: it only ever saves work.
    It is not used where git would show some objects other than as stored (replace
    refs, grafts): see :meth:`Repository.cache`.
    """

    MIN_NAMES = 256  # fewer names: one cat-file round trip beats loading the file
    # Loading costs ~17 ns a byte, reading a name from git ~35 us: a file much larger
    # than the names asked for (history since deleted, other workflows) is not worth it.
    BYTES_PER_NAME = 2048

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def cacheable(name: str) -> bool:
        return IMMUTABLE_NAME.fullmatch(name) is not None

    def load(self, max_bytes: int | None = None) -> dict[str, dict[str, Any] | None]:
        """The cached entries; none if the file is missing, unreadable or larger
        than ``max_bytes``."""
        try:
            with open(self.path, "rb") as f:
                if max_bytes is not None and os.fstat(f.fileno()).st_size > max_bytes:
                    return {}
                data = f.read()
        except OSError:
            return {}
        lines = data.split(b"\n")
        lines.pop()  # b"" after the last newline, or a line cut short by a crash
        lines = [line for line in lines if line]
        try:
            batches = json.loads(b"[" + b",".join(lines) + b"]")
        except ValueError:  # a bad line: take the others one by one
            batches = []
            for line in lines:
                with contextlib.suppress(ValueError):
                    batches.append(json.loads(line))
        out: dict[str, dict[str, Any] | None] = {}
        seen = 0
        for batch in batches:
            if not isinstance(batch, list):
                continue
            seen += len(batch)
            for pair in batch:
                if (
                    isinstance(pair, list)
                    and len(pair) == 2
                    and isinstance(pair[0], str)
                    and (pair[1] is None or isinstance(pair[1], dict))
                    and self.cacheable(pair[0])
                ):
                    out[pair[0]] = pair[1]
        if seen > 2 * len(out) + 1024:  # many repeats (racing writers): compact
            self._rewrite(out)
        return out

    def add(self, items: Iterable[tuple[str, CacheValue]]) -> None:
        data = _cache_line(items)
        if not data:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(exist_ok=True)
            # One O_APPEND write per batch: concurrent appenders do not interleave.
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":  # a write cut short
                    data = b"\n" + data
                os.write(fd, data)
            finally:
                os.close(fd)

    def _rewrite(self, entries: Mapping[str, dict[str, Any] | None]) -> None:
        with contextlib.suppress(OSError):
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".json-cache-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(_cache_line(entries.items()))
                os.replace(tmp, self.path)
            except OSError:
                os.unlink(tmp)
                raise


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


# A cache entry's value: a decoded object, None, or the UTF-8 JSON text it came from.
CacheValue = dict[str, Any] | None | bytes


def _cache_line(items: Iterable[tuple[str, CacheValue]]) -> bytes:
    """One line holding a batch of entries (b"" for none). Objects are encoded in one
    call; JSON text is put in as it is (its newlines can only be whitespace)."""
    objects: list[tuple[str, dict[str, Any] | None]] = []
    parts: list[bytes] = []
    for name, value in items:
        if isinstance(value, bytes):
            parts.append(b"[%s,%s]" % (_ENCODE(name).encode(), value.replace(b"\n", b" ")))
        else:
            objects.append((name, value))
    if objects:
        parts.append(_ENCODE(objects)[1:-1].encode())
    return b"[" + b",".join(parts) + b"]\n" if parts else b""


def commit_from_log(record: bytes) -> Commit:
    """A light Commit (no tree, identities or message) from walk()'s log format."""
    sha, parents, when, trailers = record.lstrip(b"\n").split(b"\x01", 3)
    parsed: dict[str, str] = {}
    for line in trailers.decode("utf-8", "replace").split("\x02"):
        key, sep, value = line.partition(": ")
        if sep:
            parsed.setdefault(key, value.strip())
    return Commit(sha.decode(), "", parents.decode().split(), b"", b"", b"", parsed, int(when))


def walk_facts(commit: Commit) -> dict[str, Any]:
    return {"parents": commit.parents, "time": commit.commit_time, "trailers": commit.trailers}


def commit_from_facts(sha: str, facts: dict[str, Any] | None) -> Commit | None:
    """The light Commit of a cache entry, or None if it is missing or malformed."""
    if facts is None:
        return None
    parents, when, trailers = facts.get("parents"), facts.get("time"), facts.get("trailers")
    if type(parents) is not list or type(when) is not int or type(trailers) is not dict:
        return None
    try:  # join() is the cheapest check that every parent and trailer value is a str
        "".join(parents)
        "".join(trailers.values())
    except TypeError:
        return None
    return Commit(sha, "", parents, b"", b"", b"", trailers, when)
