"""Reading objects: one long-lived ``git cat-file --batch`` process, pipelined, and
(for a long-lived store) an in-process libgit2 reader for small reads, which answers
byte for byte as cat-file does and hands anything else to git.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git.process import LongLivedGit, git_env, widen_pipe

CHUNK = 1 << 20


_REQUEST_BYTES = 16 * 1024  # well under a pipe's buffer


@functools.lru_cache(maxsize=1)
def _batch_args() -> tuple[str, ...]:
    """``--batch-command --buffer`` (git >= 2.36: git writes answers in large blocks,
    flushed on request) or plain ``--batch`` on older git."""
    try:
        out = subprocess.run(
            ["git", "version"], capture_output=True, check=True, env=git_env()
        ).stdout.decode()
        major, minor = (int(x) for x in re.findall(r"(\d+)\.(\d+)", out)[0])
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
        return ("--batch",)
    return ("--batch-command", "--buffer") if (major, minor) >= (2, 36) else ("--batch",)


class CatFile(LongLivedGit):
    """A long-lived ``git cat-file --batch``; requests are pipelined in chunks."""

    def _process(self) -> subprocess.Popen[bytes]:
        proc = self._alive()
        if proc is None:
            # core.warnAmbiguousRefs=false: a name resolves as before (the first rule
            # that matches), without git trying every other rule to warn about it --
            # five more ref lookups a name, ~1.4 ms of a listing's 75 tag names in a
            # clone of 150k refs
            args = ["-c", "core.warnAmbiguousRefs=false", "cat-file", *_batch_args()]
            proc = self._start(args, subprocess.DEVNULL)
            assert proc.stdout is not None
            widen_pipe(proc.stdout.fileno())
        return proc

    def read_many(self, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        """(sha, type, data) for each name, or None where git says it is missing.

        Requests go out in chunks small enough to sit in the pipe (so neither side
        can block the other); answers are parsed from large raw reads.
        """
        out: list[tuple[str, str, bytes] | None] = []
        with self._lock:
            pos = 0
            while pos < len(names):
                chunk: list[bytes] = []
                size = 0
                command = b"contents " if _batch_args()[0] == "--batch-command" else b""
                while pos < len(names) and (size < _REQUEST_BYTES or not chunk):
                    name = names[pos]
                    if not name or "\n" in name or "\0" in name:
                        raise ArtifactStoreError(f"invalid object name {name!r}")
                    line = command + name.encode("utf-8", "surrogateescape") + b"\n"
                    chunk.append(line)
                    size += len(line)
                    pos += 1
                proc = self._process()
                assert proc.stdin is not None and proc.stdout is not None
                if command:
                    chunk.append(b"flush\n")
                try:
                    proc.stdin.write(b"".join(chunk))
                    proc.stdin.flush()
                    out.extend(self._answers(proc.stdout.fileno(), len(chunk) - bool(command)))
                except (OSError, ValueError) as exc:
                    self.close_locked()
                    raise ArtifactStoreError(f"git cat-file failed: {exc}") from exc
        return out

    def _answers(self, fd: int, count: int) -> list[tuple[str, str, bytes] | None]:
        buf = bytearray()
        pos = 0
        found: list[tuple[str, str, bytes] | None] = []

        def fill() -> None:
            data = os.read(fd, 1 << 20)
            if not data:
                raise OSError("git cat-file exited")
            buf.extend(data)

        while len(found) < count:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                fill()
                continue
            parts = bytes(buf[pos:nl]).rsplit(b" ", 2)
            if len(parts) != 3 or parts[2] in (b"missing", b"ambiguous") or not parts[2].isdigit():
                found.append(None)
                pos = nl + 1
                continue
            end = nl + 1 + int(parts[2])
            while len(buf) < end + 1:
                fill()
            found.append((parts[0].decode(), parts[1].decode(), bytes(buf[nl + 1 : end])))
            pos = end + 1
        if pos != len(buf):
            raise OSError("unexpected output from git cat-file")
        return found


# What the in-process reader answers itself: a full object id or a full ref name,
# alone, peeled to a commit or tree, or followed by a plain path. git answers the rest.
_SIMPLE_NAME = re.compile(
    r"(?P<rev>[0-9a-f]{40}|refs/[^\0-\x20\x7f~^:?*\[\\{]+)"
    r"(?:\^\{(?P<peel>commit|tree)\}|:(?P<path>[^/\0\n]+(?:/[^/\0\n]+)*))?"
)


class AskGit(Exception):
    """A name the in-process reader leaves to git."""


class InProcessReader:
    """libgit2 (pygit2) reads of simple names (see ``_SIMPLE_NAME``), with no round trip
    to git. An object libgit2 cannot find (a pack written since, a promisor remote) and
    every other name are left to git, so answers never differ from cat-file's. Opened
    only where git shows objects as stored (no replace refs or grafts) and for SHA-1."""

    def __init__(self, git_dir: Path) -> None:
        import pygit2  # ~90 ms: only here, once a Repository has earned it

        self._pygit2 = pygit2
        self._git_dir = git_dir
        self._repo = pygit2.Repository(str(git_dir))
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def read(self, name: str) -> tuple[str, str, bytes] | None:
        """Like one answer of ``git cat-file --batch``; raises :class:`AskGit`."""
        match = _SIMPLE_NAME.fullmatch(name)
        if match is None or {".", ".."} & {
            *match["rev"].split("/"),
            *(match["path"] or "").split("/"),
        }:
            raise AskGit
        pygit2 = self._pygit2
        with self._lock:
            if self._pid != os.getpid():  # a forked child: libgit2 state is not shared
                self._repo = pygit2.Repository(str(self._git_dir))
                self._pid = os.getpid()
            repo = self._repo
            try:
                rev = match["rev"]
                if rev.startswith("refs/"):
                    ref = repo.references.get(rev)
                    if ref is None:  # git would also try refs/heads/refs/...: not ours
                        return None
                    target = ref.resolve().target
                else:
                    target = pygit2.Oid(hex=rev)
                obj = repo.get(target)
                if obj is None:
                    raise AskGit
                if match["peel"] or match["path"]:
                    wanted = pygit2.Commit if match["peel"] == "commit" else pygit2.Tree
                    try:
                        obj = obj.peel(wanted)
                    except ValueError:  # pygit2.InvalidSpecError: cannot be peeled
                        return None  # git: "missing"
                if match["path"]:
                    if not isinstance(obj, pygit2.Tree):
                        raise AskGit
                    try:
                        entry = obj[match["path"]]
                    except KeyError:
                        return None
                    obj = repo.get(entry.id)
                    if obj is None:
                        raise AskGit  # e.g. a submodule's commit
                return str(obj.id), obj.type_str, obj.read_raw()
            except (pygit2.GitError, KeyError, ValueError, TypeError) as exc:
                raise AskGit from exc  # a broken ref, a corrupt object: git says what it is
