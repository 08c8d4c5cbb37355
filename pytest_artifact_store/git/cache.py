"""The listing cache: ``.git/artifact-store/json-cache``, a memo of what large reads
learned from immutable objects (decoded metadata.json by ``<commit>:<path>``, walk
facts by commit id).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from pytest_artifact_store.git.objects import IMMUTABLE_NAME, Commit

S = TypeVar("S")
T = TypeVar("T")


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

    It cannot lie: each line carries an HMAC made with a random key kept beside it
    (``json-cache.key``, mode 0600), so a line edited or written by anything but the
    store is skipped, not served. Only regular files are read or written (never a
    FIFO, a device or a symlink), and at most MAX_BYTES of them.
    """

    MAX_BYTES = 512 << 20

    MIN_NAMES = 256  # fewer names: one cat-file round trip beats loading the file
    # Loading costs ~17 ns a byte, reading a name from git ~35 us: a file much larger
    # than the names asked for (history since deleted, other workflows) is not worth it.
    BYTES_PER_NAME = 2048

    def __init__(self, path: Path) -> None:
        self.path = path
        self.key_path = path.with_name(path.name + ".key")
        self._key: bytes | None = None

    def _load_key(self, create: bool) -> bytes | None:
        if self._key is None:
            data = _read_regular(self.key_path, 64)
            if data is not None and len(data) == 32:
                self._key = data
            elif create and data is None:
                key = secrets.token_bytes(32)
                with contextlib.suppress(OSError):  # whole or not at all: link, never rewrite
                    fd, tmp = tempfile.mkstemp(dir=self.key_path.parent, prefix=".key-")
                    try:
                        os.write(fd, key)
                        os.close(fd)
                        os.link(tmp, self.key_path)
                        self._key = key
                    finally:
                        os.unlink(tmp)
                if self._key is None:  # another process made it first
                    data = _read_regular(self.key_path, 64)
                    self._key = data if data is not None and len(data) == 32 else None
        return self._key

    def _sign(self, body: bytes, key: bytes) -> bytes:
        return hmac.new(key, body, hashlib.sha256).hexdigest().encode()[:32]

    @staticmethod
    def cacheable(name: str) -> bool:
        return IMMUTABLE_NAME.fullmatch(name) is not None

    def load(self, max_bytes: int | None = None) -> dict[str, dict[str, Any] | None]:
        """The cached entries; none if the file is missing, unreadable or larger
        than ``max_bytes``."""
        key = self._load_key(create=False)
        data = _read_regular(self.path, min(max_bytes or self.MAX_BYTES, self.MAX_BYTES))
        if key is None or data is None:
            return {}
        lines = data.split(b"\n")
        lines.pop()  # b"" after the last newline, or a line cut short by a crash
        signed = []
        for line in lines:  # "<mac> <batch>": a line the store did not write is skipped
            mac, _, body = line.partition(b" ")
            if body and hmac.compare_digest(mac, self._sign(body, key)):
                signed.append(body)
        lines = signed
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
            self.rewrite(out)
        return out

    def add(self, items: Iterable[tuple[str, CacheValue]]) -> None:
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(exist_ok=True)
            key = self._load_key(create=True)
            data = self._line(items, key) if key is not None else b""
            if not data:
                return
            # One O_APPEND write per batch: concurrent appenders do not interleave.
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
            fd = os.open(self.path, flags, 0o644)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":  # a write cut short
                    data = b"\n" + data
                os.write(fd, data)
            finally:
                os.close(fd)

    def rewrite(self, entries: Mapping[str, dict[str, Any] | None]) -> None:
        """Replace the file with ``entries`` (signed), atomically."""
        with contextlib.suppress(OSError):
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".json-cache-")
            try:
                key = self._load_key(create=True)
                with os.fdopen(fd, "wb") as out:
                    if key is not None:
                        out.write(self._line(entries.items(), key))
                os.replace(tmp, self.path)
            except OSError:
                os.unlink(tmp)
                raise

    def _line(self, items: Iterable[tuple[str, CacheValue]], key: bytes) -> bytes:
        body = _cache_line(items)
        return self._sign(body[:-1], key) + b" " + body if body else b""


class LastBuilt:
    """Per key, the last value built from a stamp, given back while the stamp is equal:
    bytes compared whole (a memcmp, where parsing them again is a Python loop a line), or
    a tuple holding a value this memo gave back (the same object: equal at once). A
    long-lived caller -- a service, an orchestrator listing after every run -- re-reads a
    fleet's few thousand task branches unchanged; values are shared, so callers treat
    them as read-only. Bounded: the oldest key goes first."""

    def __init__(self, keys: int = 32) -> None:
        self._keys = keys
        self._last: dict[object, tuple[object, Any]] = {}

    def get(self, key: object, stamp: S, build: Callable[[S], T]) -> T:
        last = self._last.get(key)
        if last is not None and last[0] == stamp:
            return cast(T, last[1])
        value = build(stamp)
        self._last.pop(key, None)
        if len(self._last) >= self._keys:
            self._last.pop(next(iter(self._last)), None)
        self._last[key] = (stamp, value)
        return value


class TipTimes(JsonCache):
    """``.git/artifact-store/tip-times``: the committer time of the task branches' tips,
    which a listing asks of thousands of them (a commit id fixes its time: never
    stale). One signed block -- ``<mac>`` then ``<commit id> <time>`` lines -- read
    whole and written whole (atomically) when it learns a tip, so a load is one HMAC
    and one split, not a JSON document. Keyed and guarded like :class:`JsonCache`
    (its own key beside it, regular files only); anything that does not verify is
    an empty memo."""

    MAX_BYTES = 64 << 20

    def times(self) -> dict[str, int]:
        """The memo (read-only: shared with the next call while the file is the same)."""
        data = _read_regular(self.path, self.MAX_BYTES)
        if not data:
            return {}
        return _TIMES.get(str(self.path), data, self._verified)

    def _verified(self, data: bytes) -> dict[str, int]:
        key = self._load_key(create=False)
        if key is None:
            return {}
        mac, _, body = data.partition(b"\n")
        if not hmac.compare_digest(mac, self._sign(body, key)):
            return {}
        try:
            words = iter(body.decode("ascii").split())
            return dict(zip(words, map(int, words), strict=True))
        except (UnicodeDecodeError, ValueError):
            return {}

    def save(self, times: Mapping[str, int]) -> None:
        """Replace the memo with ``times``, atomically; failures are ignored."""
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(exist_ok=True)
            key = self._load_key(create=True)
            if key is None:
                return
            body = "".join(f"{sha} {when}\n" for sha, when in times.items()).encode()
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tip-times-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(self._sign(body, key) + b"\n" + body)
                os.replace(tmp, self.path)
            except OSError:
                os.unlink(tmp)
                raise


_TIMES = LastBuilt()  # each memo file's times, while its bytes are the same


def _read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular file (a symlink, FIFO or device is never opened for
    reading; more than ``limit`` bytes: None), or None when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks = []
        left = info.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


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
