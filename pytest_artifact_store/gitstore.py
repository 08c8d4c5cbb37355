"""The one module that talks to git.

Objects are written with plumbing: loose objects hashed and zlib-compressed in-process
(as git writes them), trees rebuilt only along ``<artifact_root>/<task_id>``, and refs
moved in ONE ``git update-ref --stdin`` transaction with compare-and-swap. Reads go
through one long-lived ``git cat-file --batch`` process, pipelined. Nothing here
touches the work tree, the index or HEAD (revert's work-tree follow-up is the one
documented exception and runs only on a clean directory).

Every git failure becomes an :class:`ArtifactStoreError` that says which command failed
and why. GitPython is not imported: each operation here is one plumbing command or an
in-process object write, and importing it (~110 ms) would cost more than a whole commit.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import heapq
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import weakref
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_artifact_store.errors import ArtifactStoreError

MODE_TREE = b"40000"
MODE_FILE = b"100644"
MODE_EXEC = b"100755"
_CHUNK = 1 << 20
_REQUEST_BYTES = 16 * 1024  # well under a pipe's buffer
_WALK_READS = 256  # commits a cached walk reads one by one before git log takes over
# Small reads (a lookup is two) are answered in this process by libgit2 once a
# Repository has made this many: a round trip to the long-lived cat-file costs 12-130 us
# here (more when the scheduler puts git on another CPU than the caller), importing
# pygit2 ~90 ms, so only a long-lived caller (a service, a benchmark) gains from it.
_IN_PROCESS_AFTER = 16  # the plugin's commit makes 3, `artifact-store diff` 12
_SMALL_READ = 8  # names in one read; more go to cat-file, which pipelines them
# Inherited variables that would redirect git away from the repository we opened
# (git exports them to hooks). Kept: transport, auth and config-isolation settings.
_KEEP_GIT_ENV = {
    "GIT_EXEC_PATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
    "GIT_SSL_CAINFO",
    "GIT_SSL_NO_VERIFY",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_HTTP_PROXY_AUTHMETHOD",
    "GIT_ALLOW_PROTOCOL",
    "GIT_PROTOCOL_FROM_USER",
    "GIT_ASKPASS",
    "GIT_TERMINAL_PROMPT",
    "GIT_TRACE",
    "GIT_TRACE_PACKET",
    "GIT_CEILING_DIRECTORIES",
}
# Credentials in URLs: any user:password@, and for http(s)/ftp any userinfo at all (CI
# tokens ride as the user part: https://<token>@host/...); token-like query parameters.
_CREDENTIALS_IN_URL = re.compile(r"(://)[^/@\s:'\"]*:[^/@\s'\"]*@")
_USERINFO_IN_WEB_URL = re.compile(r"(\b(?:https?|ftps?)://)[^/@\s'\"]+@", re.I)
_TOKEN_IN_QUERY = re.compile(
    r"([?&](?:access_token|private_token|oauth_token|token|auth|key|api_key|apikey|"
    r"password|passwd|secret|sig|signature|x-amz-signature|x-amz-credential)=)[^&\s#'\"]+",
    re.I,
)
# "<full commit id>" and "<full commit id>:<path>": names whose object can never change
_IMMUTABLE_NAME = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})(?::[^\n\0]+)?")


def git_env(
    environ: Mapping[str, str] | None = None, *, keep_index: bool = False
) -> dict[str, str]:
    """The environment for our git calls: inherited ``GIT_*`` variables that point git
    elsewhere are dropped (git exports them to hooks); transport, auth and config
    isolation settings are kept. ``keep_index`` keeps ``GIT_INDEX_FILE`` (absolute),
    which a pre-commit hook needs: during ``git commit -a`` it names the index being
    committed."""
    source = os.environ if environ is None else environ
    env = {
        k: v
        for k, v in source.items()
        if not k.startswith("GIT_")
        or k in _KEEP_GIT_ENV
        or k.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))
    }
    if keep_index and source.get("GIT_INDEX_FILE"):
        env["GIT_INDEX_FILE"] = os.path.abspath(source["GIT_INDEX_FILE"])
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    return env


def redact(text: str) -> str:
    """Hide credentials embedded in URLs (git and ssh print remote URLs in their errors)."""
    text = _CREDENTIALS_IN_URL.sub(r"\1***@", text)
    text = _USERINFO_IN_WEB_URL.sub(r"\1***@", text)
    return _TOKEN_IN_QUERY.sub(r"\1***", text)


def last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return redact(" / ".join(lines[-n:])) or "no message"


@dataclass
class TreeEntry:
    mode: bytes
    name: bytes
    sha: bytes  # raw


@dataclass
class Commit:
    sha: str
    tree: str
    parents: list[str]
    author: bytes
    committer: bytes
    message: bytes
    trailers: dict[str, str] = field(default_factory=dict)
    commit_time: int = 0  # committer date, seconds since the epoch


@dataclass
class GitResult:
    returncode: int
    raw: bytes  # stdout as git wrote it
    stderr: str
    timed_out: bool = False

    @property
    def stdout(self) -> str:
        return self.raw.decode("utf-8", "replace")


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


class _LongLivedGit:
    """One git process kept for many requests (started on first use, again after it
    died or in a forked child), serialised by a lock."""

    def __init__(self, cwd: Path) -> None:
        self._cwd = cwd
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0

    def _alive(self) -> subprocess.Popen[bytes] | None:
        proc = self._proc
        if proc is not None and (self._pid != os.getpid() or proc.poll() is not None):
            self.close_locked()
            proc = None
        return proc

    def _start(self, args: list[str], stderr: int) -> subprocess.Popen[bytes]:
        self._proc = proc = subprocess.Popen(
            ["git", *args],
            cwd=self._cwd,
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=git_env(),
        )
        self._pid = os.getpid()
        # A store that is never closed still ends its git process when collected.
        weakref.finalize(self, _end_process, proc, self._pid)
        return proc

    def close_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _end_process(proc, self._pid)

    def close(self) -> None:
        with self._lock:
            self.close_locked()


class _CatFile(_LongLivedGit):
    """A long-lived ``git cat-file --batch``; requests are pipelined in chunks."""

    def _process(self) -> subprocess.Popen[bytes]:
        proc = self._alive()
        if proc is None:
            proc = self._start(["cat-file", *_batch_args()], subprocess.DEVNULL)
            assert proc.stdout is not None
            _widen_pipe(proc.stdout.fileno())
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


class _RefUpdater(_LongLivedGit):
    """A long-lived ``git update-ref --stdin``: each transaction is start, updates,
    prepare, commit on the same process, so a commit pays for no process start.

    The reflog message is fixed per process (``-m``): another message starts a new
    one. git ends the process when a transaction fails (a ref moved, is locked, ...),
    and its reason is on stderr; the next transaction starts a new process.
    """

    _message = ""

    def run(self, commands: Sequence[str], reflog: str) -> str | None:
        """None once git says ``commit: ok``; otherwise git's reason."""
        with self._lock:
            proc = self._process(reflog)
            assert proc.stdin is not None and proc.stdout is not None
            answer = b""
            with contextlib.suppress(OSError):
                proc.stdin.write("".join(c + "\n" for c in commands).encode())
                proc.stdin.flush()
                while not answer.endswith(b"commit: ok\n"):
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    answer += chunk
            if answer.endswith(b"commit: ok\n"):
                return None
            self._proc = None
            assert proc.stderr is not None
            with contextlib.suppress(OSError):
                proc.stdin.close()  # git is ending (or has): let it
            error = proc.stderr.read().decode("utf-8", "replace").strip()
            _end_process(proc, self._pid)
            return error or f"git update-ref exited {proc.returncode}"

    def _process(self, reflog: str) -> subprocess.Popen[bytes]:
        if self._message != reflog:
            self.close_locked()
        proc = self._alive()
        if proc is None:
            proc = self._start(["update-ref", "-m", reflog, "--stdin"], subprocess.PIPE)
            self._message = reflog
        return proc


# What the in-process reader answers itself: a full object id or a full ref name,
# alone, peeled to a commit or tree, or followed by a plain path. git answers the rest.
_SIMPLE_NAME = re.compile(
    r"(?P<rev>[0-9a-f]{40}|refs/[^\0-\x20\x7f~^:?*\[\\{]+)"
    r"(?:\^\{(?P<peel>commit|tree)\}|:(?P<path>[^/\0\n]+(?:/[^/\0\n]+)*))?"
)


class _AskGit(Exception):
    """A name the in-process reader leaves to git."""


class _InProcessReader:
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
        """Like one answer of ``git cat-file --batch``; raises :class:`_AskGit`."""
        match = _SIMPLE_NAME.fullmatch(name)
        if match is None or {".", ".."} & {
            *match["rev"].split("/"),
            *(match["path"] or "").split("/"),
        }:
            raise _AskGit
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
                    raise _AskGit
                if match["peel"] or match["path"]:
                    wanted = pygit2.Commit if match["peel"] == "commit" else pygit2.Tree
                    try:
                        obj = obj.peel(wanted)
                    except ValueError:  # pygit2.InvalidSpecError: cannot be peeled
                        return None  # git: "missing"
                if match["path"]:
                    if not isinstance(obj, pygit2.Tree):
                        raise _AskGit
                    try:
                        entry = obj[match["path"]]
                    except KeyError:
                        return None
                    obj = repo.get(entry.id)
                    if obj is None:
                        raise _AskGit  # e.g. a submodule's commit
                return str(obj.id), obj.type_str, obj.read_raw()
            except (pygit2.GitError, KeyError, ValueError, TypeError) as exc:
                raise _AskGit from exc  # a broken ref, a corrupt object: git says what it is


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
        return _IMMUTABLE_NAME.fullmatch(name) is not None

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


class Repository:
    """A git repository opened for plumbing-level reads and writes."""

    def __init__(self, path: Path) -> None:
        if not Path(path).is_dir():
            raise ArtifactStoreError(
                f"repo_path {str(path)!r} does not exist or is not a directory; point "
                "repo_path (artifact-store --repo, artifact_store_repo) at a git repository"
            )
        # One rev-parse finds everything (a work tree, a subdirectory of one, a linked
        # worktree or a bare repository); --show-toplevel comes last because a bare
        # repository has none, and git stops there with an error.
        found = self.run(
            [
                "rev-parse",
                "--path-format=absolute",
                "--git-dir",
                "--git-common-dir",
                "--is-bare-repository",
                "--show-object-format",
                "--show-toplevel",
            ],
            check=False,
            cwd=Path(path),
        )
        lines = found.stdout.splitlines()
        if len(lines) < 4 or (found.returncode and lines[2] != "true"):
            if "not a git repository" in found.stderr:
                raise ArtifactStoreError(
                    f"{str(path)!r} is not a git repository; run 'git init' there, or point "
                    "repo_path (artifact-store --repo, artifact_store_repo) at a repository"
                )
            raise ArtifactStoreError(
                f"cannot open git repository at {str(path)!r}: {last_lines(found.stderr)}"
            )
        self.git_dir, self.common_dir = Path(lines[0]), Path(lines[1])
        self.bare = lines[2] == "true"
        self.work_tree: Path | None = None if self.bare else Path(lines[4])
        self.cwd = self.work_tree or self.git_dir
        self.objects_dir = self.common_dir / "objects"
        fmt = lines[3]
        if fmt not in ("sha1", "sha256"):
            raise ArtifactStoreError(f"unsupported object format {fmt!r} in {self.git_dir}")
        self.hash_name = fmt
        self.null_sha = "0" * (40 if fmt == "sha1" else 64)
        self._cat = _CatFile(self.cwd)
        self._updater = _RefUpdater(self.cwd)
        self._cache: JsonCache | bool | None = False  # False: not decided yet
        self._in_process: _InProcessReader | bool | None = False  # None: not usable
        self._small_reads = 0

    def close(self) -> None:
        self._cat.close()
        self._updater.close()

    def gitpython(self) -> Any:
        """A GitPython ``Repo`` on this repository, for what the store does not do.

        Imported on demand: the store's own operations never need it, and importing
        GitPython costs more than a whole commit."""
        import git

        return git.Repo(self.work_tree or self.git_dir)

    # ------------------------------------------------------------------ commands
    def run(
        self,
        args: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
        cwd: Path | None = None,
    ) -> GitResult:
        return run_git(args, cwd=cwd or self.cwd, input=input, timeout=timeout, check=check)

    # ------------------------------------------------------------------ reading
    def read_many(self, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        """(object id, type, content) of each name as ``git cat-file --batch`` gives
        them, or None where git would say it is missing."""
        reader = self._in_process_reader() if len(names) <= _SMALL_READ else None
        if reader is None:
            return self._cat.read_many(names)
        out: list[tuple[str, str, bytes] | None] = []
        asked = []
        for name in names:
            try:
                out.append(reader.read(name))
            except _AskGit:
                asked.append(len(out))
                out.append(None)
        for i, answer in zip(asked, self._cat.read_many([names[i] for i in asked]), strict=True):
            out[i] = answer
        return out

    def _in_process_reader(self) -> _InProcessReader | None:
        if self._in_process is False:
            self._small_reads += 1
            if self._small_reads <= _IN_PROCESS_AFTER:
                return None
            self._in_process = None
            # cache() is None exactly where replace refs or grafts make git show some
            # objects other than as stored: libgit2 would show them as stored
            if self.hash_name == "sha1" and self.cache() is not None:
                # pygit2 missing or too old, a repository libgit2 cannot open (an
                # extension it does not know): every read stays with git
                with contextlib.suppress(Exception):
                    self._in_process = _InProcessReader(self.git_dir)
        return self._in_process if isinstance(self._in_process, _InProcessReader) else None

    def read_json_many(
        self,
        names: Sequence[str],
        cached: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> list[dict[str, Any] | None]:
        """The JSON object stored in each named blob; None where the name is missing,
        is not a blob, or does not hold a JSON object.

        Many ``<commit id>:<path>`` names are answered from :class:`JsonCache`
        (``cached``: its contents, loaded beforehand by the caller) and only the
        rest are read from git, then added to the cache."""
        # A few names (a lookup, a commit's idempotency check): straight to git.
        large = cached is not None or len(names) >= JsonCache.MIN_NAMES
        cache = self.cache() if large else None
        if cache is None:
            cached = None
        elif cached is None:
            cached = cache.load(len(names) * JsonCache.BYTES_PER_NAME)
        out: list[dict[str, Any] | None] = []
        missing: list[int] = []
        seen: set[str] = set()
        for i, name in enumerate(names):
            if cached is not None and name in cached and name not in seen:
                out.append(cached[name])
                seen.add(name)  # a repeated name gets its own object below
            else:
                out.append(None)
                missing.append(i)
        if not missing:
            return out
        learned: list[tuple[str, CacheValue]] = []
        for i, found in zip(missing, self.read_many([names[i] for i in missing]), strict=True):
            value = blob_json(found)
            out[i] = value
            if found is not None and JsonCache.cacheable(names[i]):
                # Text json.loads read as UTF-8 (no NUL, no BOM) is kept as it is:
                # cheaper than encoding the object again.
                plain = value is not None and b"\0" not in found[2] and found[2][:1] != b"\xef"
                learned.append((names[i], found[2] if plain else value))
        if cache is not None and cached is not None and learned:
            cache.add(learned)
        return out

    def cache(self) -> JsonCache | None:
        """The repository's :class:`JsonCache`, or None where reads are not a function
        of the object id alone: with replace refs or grafts, git shows some objects
        other than as stored, and what it showed could change."""
        if self._cache is False:
            self._cache = (
                None
                if self._replaces_objects()
                else JsonCache(self.common_dir / "artifact-store" / "json-cache")
            )
        return self._cache if isinstance(self._cache, JsonCache) else None

    def _replaces_objects(self) -> bool:
        common = self.common_dir
        if (common / "info" / "grafts").exists():
            return True
        if (common / "reftable").is_dir():  # no files to look at: ask git
            return bool(self.for_each_ref(["refs/replace/"], "%(refname)"))
        with contextlib.suppress(OSError):
            if any((common / "refs" / "replace").iterdir()):
                return True
        try:
            return b" refs/replace/" in (common / "packed-refs").read_bytes()
        except OSError:
            return False

    def resolve(self, names: Sequence[str]) -> list[str | None]:
        """Object ids of revision names (refs, ``rev^{commit}``, ``rev:path``), or None."""
        return [r[0] if r else None for r in self.read_many(names)]

    def read_commit(self, name: str) -> Commit | None:
        found = self.read_many([name + "^{commit}"])[0]
        if found is None:
            return None
        return parse_commit(found[0], found[2])

    def read_commits(self, shas: Sequence[str]) -> list[Commit]:
        out = []
        for name, found in zip(shas, self.read_many(list(shas)), strict=True):
            if found is None or found[1] != "commit":
                raise ArtifactStoreError(f"commit {name} is missing from the object database")
            out.append(parse_commit(found[0], found[2]))
        return out

    def parse_tree(self, data: bytes) -> list[TreeEntry]:
        size = 20 if self.hash_name == "sha1" else 32
        entries = []
        pos = 0
        while pos < len(data):
            space = data.index(b" ", pos)
            nul = data.index(b"\0", space)
            entries.append(
                TreeEntry(data[pos:space], data[space + 1 : nul], data[nul + 1 : nul + 1 + size])
            )
            pos = nul + 1 + size
        return entries

    def read_trees(self, names: Sequence[str]) -> list[list[TreeEntry] | None]:
        out: list[list[TreeEntry] | None] = []
        for found in self.read_many(names):
            out.append(self.parse_tree(found[2]) if found and found[1] == "tree" else None)
        return out

    def ls_tree_blobs(self, tree_name: str) -> dict[str, str]:
        """{relative path: blob sha} of every file under a tree (recursively)."""
        result: dict[str, str] = {}
        pending = [("", tree_name)]
        while pending:
            names = [name for _, name in pending]
            prefixes = [prefix for prefix, _ in pending]
            pending = []
            for prefix, entries in zip(prefixes, self.read_trees(names), strict=True):
                for e in entries or []:
                    path = prefix + e.name.decode("utf-8", "surrogateescape")
                    if e.mode == MODE_TREE:
                        pending.append((path + "/", e.sha.hex()))
                    else:
                        result[path] = e.sha.hex()
        return result

    # ------------------------------------------------------------------ writing
    def _object_path(self, hexsha: str) -> Path:
        return self.objects_dir / hexsha[:2] / hexsha[2:]

    def hash_object(self, kind: bytes, data: bytes | memoryview) -> str:
        h = hashlib.new(self.hash_name)
        h.update(b"%s %d\0" % (kind, len(data)))
        h.update(data)
        return h.hexdigest()

    def write_object(self, kind: bytes, data: bytes | memoryview, hexsha: str | None = None) -> str:
        """Write a loose object (zlib level 1, temp file + rename, like git)."""
        hexsha = hexsha or self.hash_object(kind, data)
        final = self._object_path(hexsha)
        if final.exists():
            return hexsha
        final.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="tmp_obj_", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                comp = zlib.compressobj(1)
                fh.write(comp.compress(b"%s %d\0" % (kind, len(data))))
                view = memoryview(data)
                for start in range(0, len(view), _CHUNK):
                    fh.write(comp.compress(view[start : start + _CHUNK]))
                fh.write(comp.flush())
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return hexsha

    def tree_bytes(self, entries: Iterable[TreeEntry]) -> bytes:
        def key(e: TreeEntry) -> bytes:
            return e.name + b"/" if e.mode == MODE_TREE else e.name

        return b"".join(e.mode + b" " + e.name + b"\0" + e.sha for e in sorted(entries, key=key))

    def write_tree(self, entries: Iterable[TreeEntry]) -> str:
        return self.write_object(b"tree", self.tree_bytes(entries))

    def sign(self, payload: bytes) -> bytes:
        """A detached signature of ``payload`` with the user's git signing setup."""
        return _Signer(self).sign(payload)

    def write_commit(
        self,
        tree: str,
        parents: Sequence[str],
        author: bytes,
        committer: bytes,
        message: bytes,
        *,
        sign: bool = False,
    ) -> str:
        head = b"tree %s\n" % tree.encode()
        head += b"".join(b"parent %s\n" % p.encode() for p in parents)
        head += b"author %s\ncommitter %s\n" % (author, committer)
        body = b"\n" + message
        if sign:
            sig = self.sign(head + body).rstrip(b"\n")
            head += b"gpgsig " + sig.replace(b"\n", b"\n ") + b"\n"
        return self.write_object(b"commit", head + body)

    def write_tag(
        self, target: str, name: str, tagger: bytes, message: bytes, *, sign: bool = False
    ) -> str:
        data = b"object %s\ntype commit\ntag %s\ntagger %s\n\n%s" % (
            target.encode(),
            name.encode(),
            tagger,
            message,
        )
        if sign:
            data += self.sign(data)
        return self.write_object(b"tag", data)

    # ------------------------------------------------------------------ refs
    def transaction(
        self, updates: Sequence[tuple[str, str, str | None]], reflog: str
    ) -> str | None:
        """Apply (ref, new, old) updates atomically; old None = must not exist.

        Returns None on success, git's error text when the transaction was refused
        (a ref moved, already exists, or is locked) -- nothing is changed then.
        """
        lines = ["start"]
        for ref, new, old in updates:
            if old is None:
                lines.append(f"create {ref} {new}")
            else:
                lines.append(f"update {ref} {new} {old}")
        lines += ["prepare", "commit"]
        return self._updater.run(lines, reflog)

    def for_each_ref(self, patterns: Sequence[str], fmt: str) -> list[str]:
        if not patterns:
            return []
        out = self.run(["for-each-ref", f"--format={fmt}", *patterns]).stdout
        return [line for line in out.split("\n") if line]

    def is_ancestor(self, maybe_ancestor: str, commit: str) -> bool:
        """Whether ``maybe_ancestor`` exists here and is reachable from ``commit``."""
        if self.resolve([f"{maybe_ancestor}^{{commit}}"])[0] is None:
            return False
        res = self.run(["merge-base", "--is-ancestor", maybe_ancestor, commit], check=False)
        return res.returncode == 0

    def remote_exists(self, remote: str) -> bool:
        result = self.run(["config", "--get", f"remote.{remote}.url"], check=False)
        return result.returncode == 0 and bool(result.stdout.strip())

    def worktrees_on(self, branch_ref: str) -> list[Path]:
        """Work trees (main and linked) that have ``branch_ref`` checked out."""
        out = self.run(["worktree", "list", "--porcelain"]).stdout
        found: list[Path] = []
        current: Path | None = None
        for line in out.split("\n"):
            if line.startswith("worktree "):
                current = Path(line[9:])
            elif line == f"branch {branch_ref}" and current is not None:
                found.append(current)
        return found

    # ------------------------------------------------------------------ history
    def walk_cached(
        self, tips: Sequence[str], cached: Mapping[str, dict[str, Any] | None]
    ) -> Iterator[Commit]:
        """:meth:`walk`, answered from the cache's commit entries (``cached``, loaded
        by the caller) where it can: the same commits in the same order, newest first
        by commit date with ties in the order they were reached, as ``git log`` does.

        A commit the cache lacks is read with cat-file; when most tips are missing
        (a cold cache), or once many commits were missing, ``git log`` walks (the
        rest) instead. Either way what was read is added.
        """
        cache = self.cache()
        learned: list[tuple[str, CacheValue]] = []
        done: set[str] = set()

        def from_git(starts: Sequence[str]) -> Iterator[Commit]:
            for commit in self.walk(starts):
                if commit.sha not in done:
                    done.add(commit.sha)
                    if commit.sha not in cached:
                        learned.append((commit.sha, _walk_facts(commit)))
                    yield commit

        try:
            if cache is None or 2 * sum(tip not in cached for tip in tips) > len(tips):
                yield from from_git(tips)
                return
            heap: list[tuple[int, int, Commit]] = []
            queued: set[str] = set()
            order = itertools.count()

            def queue(shas: Iterable[str]) -> None:
                missing = []
                for sha in shas:
                    if sha not in queued:
                        queued.add(sha)
                        commit = _commit_from_facts(sha, cached.get(sha))
                        if commit is None:
                            missing.append(sha)
                        else:
                            heapq.heappush(heap, (-commit.commit_time, next(order), commit))
                if not missing:
                    return
                for obj in self.read_many(missing):
                    # None: beyond a shallow clone's boundary
                    if obj is not None and obj[1] == "commit":
                        commit = parse_commit(obj[0], obj[2])
                        learned.append((commit.sha, _walk_facts(commit)))
                        heapq.heappush(heap, (-commit.commit_time, next(order), commit))

            queue(tips)
            while heap:
                if len(learned) > _WALK_READS:  # much of this history is not cached
                    yield from from_git([entry[2].sha for entry in heap])
                    return
                commit = heapq.heappop(heap)[2]
                done.add(commit.sha)
                yield commit
                queue(commit.parents)
        finally:
            if cache is not None and learned:
                cache.add(learned)

    def walk(self, tips: Sequence[str]) -> Iterator[Commit]:
        """Commits reachable from ``tips``, newest first by commit date, streamed.

        The caller stops iterating when it has seen enough; ``git log`` is then
        killed, so the cost follows what was read, not the size of the history.
        """
        if not tips:
            return
        proc = subprocess.Popen(
            [
                "git",
                "log",
                "--stdin",
                "-z",
                "--format=%H%x01%P%x01%ct%x01%(trailers:only,unfold,separator=%x02)",
                "--date=raw",
            ],
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=git_env(),
        )
        assert proc.stdin is not None and proc.stdout is not None
        _widen_pipe(proc.stdout.fileno())
        try:
            proc.stdin.write("".join(t + "\n" for t in tips).encode())
            proc.stdin.close()
            buf = b""
            while True:
                chunk = os.read(proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    break
                buf += chunk
                *records, buf = buf.split(b"\0")
                for record in records:
                    yield _commit_from_log(record)
            if buf.strip(b"\n"):
                yield _commit_from_log(buf)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.wait()


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None,
    input: bytes | None = None,
    timeout: float | None = None,
    check: bool = True,
    keep_index: bool = False,
) -> GitResult:
    """Run git in its own process group; on timeout the whole group is killed.

    With ``check``, a failure is an ArtifactStoreError naming the command and git's
    last words."""
    try:
        proc = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=git_env(keep_index=keep_index),
            start_new_session=True,
        )
    except OSError as exc:
        raise ArtifactStoreError(f"cannot run git ({exc}); is git installed and on PATH?") from exc
    timed_out = False
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        out, err = proc.communicate()
    result = GitResult(proc.returncode, out, err.decode("utf-8", "replace"), timed_out)
    if check and (result.returncode or timed_out):
        what = f"timed out after {timeout} s" if timed_out else f"exit {result.returncode}"
        raise ArtifactStoreError(f"git {args[0]} failed ({what}): {last_lines(result.stderr)}")
    return result


def _commit_from_log(record: bytes) -> Commit:
    """A light Commit (no tree, identities or message) from walk()'s log format."""
    sha, parents, when, trailers = record.lstrip(b"\n").split(b"\x01", 3)
    parsed: dict[str, str] = {}
    for line in trailers.decode("utf-8", "replace").split("\x02"):
        key, sep, value = line.partition(": ")
        if sep:
            parsed.setdefault(key, value.strip())
    return Commit(sha.decode(), "", parents.decode().split(), b"", b"", b"", parsed, int(when))


def _walk_facts(commit: Commit) -> dict[str, Any]:
    return {"parents": commit.parents, "time": commit.commit_time, "trailers": commit.trailers}


def _commit_from_facts(sha: str, facts: dict[str, Any] | None) -> Commit | None:
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


def blob_json(found: tuple[str, str, bytes] | None) -> dict[str, Any] | None:
    """The JSON object in a blob read by :meth:`Repository.read_many`, if it is one."""
    if not found or found[1] != "blob":
        return None
    try:
        obj = json.loads(found[2])
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _end_process(proc: subprocess.Popen[bytes], owner: int) -> None:
    """Close a long-lived git's pipes (it then exits) and reap it; not in a forked child."""
    if owner != os.getpid():
        return
    with contextlib.suppress(OSError):
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _widen_pipe(fd: int) -> None:
    """Let git run ahead of the reader: a 1 MiB pipe instead of 64 KiB (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


class _Signer:
    """Sign a payload the way git does for gpg.format openpgp, x509 and ssh."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        # every setting signing needs, in one git process (not one per key)
        found = repo.run(
            ["config", "-z", "--get-regexp", r"^(gpg\.|user\.signingkey$)"], check=False
        ).stdout
        self.settings: dict[str, str] = {}
        for record in found.split("\0"):
            name, _, value = record.partition("\n")
            if name:
                self.settings[name.lower()] = value  # the last one wins, as in git

    def _config(self, key: str) -> str | None:
        return self.settings.get(key.lower()) or None

    def sign(self, payload: bytes) -> bytes:
        fmt = (self._config("gpg.format") or "openpgp").lower()
        key = self._config("user.signingkey")
        if fmt == "ssh":
            return self._ssh(payload, key)
        program = self._config(f"gpg.{fmt}.program") or (
            self._config("gpg.program") if fmt == "openpgp" else None
        )
        program = program or ("gpgsm" if fmt == "x509" else "gpg")
        if not key:
            ident = self.repo.run(["var", "GIT_COMMITTER_IDENT"], check=False).stdout
            key = ident.rsplit(">", 1)[0] + ">" if ">" in ident else None
        if not key:
            raise ArtifactStoreError(
                "sign_commits is on but no signing key is configured; set user.signingkey"
            )
        proc = subprocess.run(
            [program, "--status-fd=2", "-bsau", key],
            input=payload,
            capture_output=True,
            env=git_env(),
            check=False,
        )
        if proc.returncode or b"[GNUPG:] SIG_CREATED" not in proc.stderr:
            reason = last_lines(proc.stderr.decode(errors="replace"))
            raise ArtifactStoreError(f"signing with {program} failed: {reason}")
        return proc.stdout

    def _ssh(self, payload: bytes, key: str | None) -> bytes:
        if not key:
            raise ArtifactStoreError(
                "sign_commits is on with gpg.format=ssh but user.signingkey is not set"
            )
        program = self._config("gpg.ssh.program") or "ssh-keygen"
        with tempfile.TemporaryDirectory(prefix="artifact-store-sign-") as tmp:
            args = [program, "-Y", "sign", "-n", "git"]
            literal = key.removeprefix("key::")
            if key.startswith("key::") or literal.startswith(("ssh-", "ecdsa-", "sk-")):
                pub = Path(tmp, "key.pub")
                pub.write_text(literal + "\n")
                args += ["-U", "-f", str(pub)]
            else:
                args += ["-f", os.path.expanduser(key)]
            buf = Path(tmp, "payload")
            buf.write_bytes(payload)
            proc = subprocess.run(
                [*args, str(buf)],
                capture_output=True,
                env=git_env(),
                check=False,
                stdin=subprocess.DEVNULL,
            )
            sig = Path(tmp, "payload.sig")
            if proc.returncode or not sig.exists():
                raise ArtifactStoreError(
                    f"ssh signing failed: {last_lines(proc.stderr.decode(errors='replace'))}"
                )
            return sig.read_bytes()


def deadline_left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())
