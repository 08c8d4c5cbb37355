"""The repository: discovery, object writes (loose objects hashed and zlib-compressed
in process, as git writes them), reads through the readers, ref transactions, and
history walks (``git log``, or the listing cache).

Nothing here touches the work tree, the index or HEAD (revert's work-tree follow-up
is the one documented exception and runs only on a clean directory). Every git
failure becomes an :class:`ArtifactStoreError` that says which command failed and why.
GitPython is imported only on demand (``Repository.gitpython``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import heapq
import itertools
import mmap
import os
import re
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git.cache import (
    CacheValue,
    JsonCache,
    LastBuilt,
    TipTimes,
    commit_from_facts,
    commit_from_log,
    walk_facts,
)
from pytest_artifact_store.git.objects import MODE_TREE, Commit, TreeEntry, blob_json, parse_commit
from pytest_artifact_store.git.packs import PackObject, packed, write_pack
from pytest_artifact_store.git.process import GitResult, git_env, last_lines, run_git, widen_pipe
from pytest_artifact_store.git.readers import CHUNK, AskGit, CatFile, InProcessReader
from pytest_artifact_store.git.refs import RefUpdater
from pytest_artifact_store.git.refstore import packed_has_prefix, parse_packed, read_refs
from pytest_artifact_store.git.signing import Signer

# Objects the store writes are dated this far ahead (see Repository._write_loose).
_GRACE = 60.0
_PACK_LIMIT = 50  # git's default gc.autoPackLimit
_GC_AUTO = 6700  # git's default gc.auto; git itself reads the configured one
_GRAPH_REFS_BYTES = 256 * 1024  # packed-refs this large: a few thousand refs
_GRAPH_BEHIND = 16  # versions (packs) not in the commit-graph before a new layer
_DETACHED: list[subprocess.Popen[bytes]] = []  # maintenance started here, reaped later
_REF_FORMATS: dict[str, Callable[[str, str], str]] = {
    "%(objectname) %(refname)": lambda sha, ref: f"{sha} {ref}",
    "%(refname)": lambda sha, ref: ref,
    "%(objectname)": lambda sha, ref: sha,
}
_GLOB = re.compile(r"[*?\[\\]")  # a pattern git matches as a glob, not as a prefix
_Refs = list[tuple[str, str]]  # (object id, ref name)
_PACKED = LastBuilt()  # packed task refs, parsed, while packed-refs holds the same
_MERGED = LastBuilt()  # loose refs over a packed list, while both say the same
_WALK_READS = 256  # commits a cached walk reads one by one before git log takes over


# Small reads (a lookup is two) are answered in this process by libgit2 once a
# Repository has made this many: a round trip to the long-lived cat-file costs 12-130 us
# here (more when the scheduler puts git on another CPU than the caller), importing
# pygit2 ~90 ms, so only a long-lived caller (a service, a benchmark) gains from it.
_IN_PROCESS_AFTER = 16  # the plugin's commit makes 3, `artifact-store diff` 12


_SMALL_READ = 8  # names in one read; more go to cat-file, which pipelines them


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
        self._cat = CatFile(self.cwd)
        self._updater = RefUpdater(self.cwd)
        self._cache: JsonCache | bool | None = False  # False: not decided yet
        self._times: TipTimes | None = None  # made on first use
        self._remote_urls: tuple[tuple[object, ...] | None, str] | None = None  # (stamp, config)
        self._packing = threading.local()  # per thread: see packing()
        self._in_process: InProcessReader | bool | None = False  # None: not usable
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
        env: Mapping[str, str] | None = None,
        die_with_parent: bool = False,
    ) -> GitResult:
        return run_git(
            args,
            cwd=cwd or self.cwd,
            input=input,
            timeout=timeout,
            check=check,
            env=env,
            die_with_parent=die_with_parent,
        )

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
            except AskGit:
                asked.append(len(out))
                out.append(None)
        for i, answer in zip(asked, self._cat.read_many([names[i] for i in asked]), strict=True):
            out[i] = answer
        return out

    def _in_process_reader(self) -> InProcessReader | None:
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
                    self._in_process = InProcessReader(self.git_dir)
        return self._in_process if isinstance(self._in_process, InProcessReader) else None

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

    def commit_times(self, shas: Sequence[str], *, every: bool = False) -> dict[str, int]:
        """{commit id: committer time} of the ``shas`` that are commits here.

        A listing asks this of every task branch's tip (thousands in a fleet's clone)
        to walk only the branches that can hold the newest versions. A commit id fixes
        its time, so the answers are kept in a memo beside the listing cache
        (:class:`TipTimes`, never stale): ids it lacks are read in one cat-file batch
        and added. ``every``: the ids are all the tips there are, so a memo grown
        much larger (tips that moved on) is written again with just these."""
        memo = self._tip_times()
        known = memo.times() if memo is not None else {}
        out: dict[str, int] = {}
        missing: list[str] = []
        for sha in shas:
            when = known.get(sha)
            if when is None:
                missing.append(sha)
            else:
                out[sha] = when
        learned = {}
        for sha, found in zip(missing, self.read_many(missing), strict=True):
            when = _committer_time(found[2]) if found and found[1] == "commit" else None
            if when is not None:
                learned[sha] = out[sha] = when
        if memo is not None:
            if every and len(known) + len(learned) > 2 * len(out) + 1024:
                memo.save(out)
            elif learned:
                memo.save({**known, **learned})
        return out

    def _tip_times(self) -> TipTimes | None:
        if self.cache() is None:  # replace refs or grafts: no memo of object contents
            return None
        if self._times is None:
            self._times = TipTimes(self.common_dir / "artifact-store" / "tip-times")
        return self._times

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
            with open(common / "packed-refs", "rb") as fh:
                if os.fstat(fh.fileno()).st_size == 0:
                    return False
                with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    found = packed_has_prefix(data, b"refs/replace/")
        except (OSError, ValueError):
            return False
        if found is None:  # not known to be sorted: git looks (a scan of the whole file
            # took 30 ms at 150k refs, on every listing of a fleet's clone)
            return bool(self.for_each_ref(["refs/replace/"], "%(refname)"))
        return found

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
        """Write an object: inside :meth:`packing`, held for the pack :meth:`flush`
        writes; else a loose object (zlib level 1, temp file + rename, like git). A
        failure (disk full, read-only storage, permissions) is an ArtifactStoreError
        naming the directory and what to do; no ref has moved, no partial object left."""
        hexsha = hexsha or self.hash_object(kind, data)
        pending: list[PackObject] | None = getattr(self._packing, "pending", None)
        if pending is not None:
            pending.append((kind, data, hexsha))
            return hexsha
        try:
            self._write_loose(kind, data, hexsha)
        except OSError as exc:
            raise ArtifactStoreError(_write_failure(exc, self.objects_dir)) from exc
        return hexsha

    @contextlib.contextmanager
    def packing(self) -> Iterator[None]:
        """Objects written meanwhile are held, and written as ONE pack by :meth:`flush`,
        kept from `git repack`/`gc` until the block ends (see :mod:`.packs`; `git prune`
        never takes packed objects). Held objects not flushed are dropped: nothing
        refers to them."""
        state = self._packing
        state.pending, state.flushed, state.keeps = [], [], []
        try:
            yield
        finally:  # the refs are written (or the commit failed): no need to keep them
            for keep in state.keeps:
                with contextlib.suppress(OSError):
                    keep.unlink()
            state.pending = state.flushed = state.keeps = None

    def write_blobs(self, blobs: Sequence[tuple[bytes | memoryview, str]]) -> None:
        """Write (content, id) blobs. Inside :meth:`packing`, a blob some pack holds
        already (an unchanged file of the last version) is not compressed again -- the
        pack indexes are read once for all of them; a loose one is packed anyway, since
        `git prune --expire=now` could take it before the refs reach it."""
        pending: list[PackObject] | None = getattr(self._packing, "pending", None)
        if pending is None:
            for data, sha in blobs:
                self.write_object(b"blob", data, sha)
            return
        have = packed(self.objects_dir / "pack", [bytes.fromhex(sha) for _, sha in blobs])
        pending += [(b"blob", data, sha) for data, sha in blobs if bytes.fromhex(sha) not in have]

    def flush(self, *, again: bool = False) -> None:
        """Write the held objects as one pack (``again``: every object flushed in this
        block once more, as a new pack: something removed the first)."""
        pending: list[PackObject] | None = getattr(self._packing, "pending", None)
        flushed: list[PackObject] | None = getattr(self._packing, "flushed", None)
        if pending is None or flushed is None:
            return
        objects = flushed + pending if again else pending
        if not objects:
            return
        try:
            self._packing.keeps.append(
                write_pack(self.objects_dir / "pack", objects, self.hash_name)
            )
        except OSError as exc:
            raise ArtifactStoreError(_write_failure(exc, self.objects_dir)) from exc
        if not again:
            flushed += pending
        self._packing.pending = []

    def refs_now(self, names: Sequence[str]) -> list[str | None]:
        """Like :meth:`resolve` for full ref names (``<ref>`` or ``<ref>^{commit}``),
        asked of a new git process: what the refs say now, whatever a long-lived reader
        has cached (``git pack-refs`` moving refs as they are read)."""
        refs = [n.removesuffix("^{commit}") for n in names]
        out = self.run(
            ["for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)", *refs]
        ).stdout
        found = {}
        for line in out.splitlines():
            ref, sha, peeled = [*line.split("\0"), "", ""][:3]
            found[ref] = (sha, peeled or sha)
        return [
            found[ref][1 if name.endswith("^{commit}") else 0] if ref in found else None
            for name, ref in zip(names, refs, strict=True)
        ]

    def _write_loose(self, kind: bytes, data: bytes | memoryview, hexsha: str) -> str:
        """The object as a loose file, dated _GRACE seconds ahead, so that a `git prune
        --expire=<a time>` running before a ref reaches it spares it (`--expire=now`
        takes every unreachable loose object whatever its date: what the store commits
        goes through :meth:`packing` instead)."""
        final = self._object_path(hexsha)
        ahead = time.time() + _GRACE
        if final.exists():
            try:  # freshened, as git does: prune must not take it as old and unreachable
                os.utime(final, (ahead, ahead))
                return hexsha
            except OSError:
                pass  # not ours to touch: write a fresh copy over it
        for attempt in range(5):
            try:  # `git gc`/`prune` may remove the fan-out directory or our temp file
                return self._write_new(kind, data, final, ahead)
            except FileNotFoundError:
                if attempt == 4:
                    raise
        return hexsha

    def _write_new(self, kind: bytes, data: bytes | memoryview, final: Path, ahead: float) -> str:
        final.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="tmp_obj_", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                comp = zlib.compressobj(1)
                fh.write(comp.compress(b"%s %d\0" % (kind, len(data))))
                view = memoryview(data)
                for start in range(0, len(view), CHUNK):
                    fh.write(comp.compress(view[start : start + CHUNK]))
                fh.write(comp.flush())
            os.chmod(tmp, 0o444)
            os.utime(tmp, (ahead, ahead))
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return final.parent.name + final.name

    def maintain(self) -> None:
        """Keep the repository packed, as git's own commands do: when git's estimate of
        loose objects (those in ``objects/17`` x 256) passes ``gc.auto`` (6700), or the
        packs (one a version) pass ``gc.autoPackLimit`` (50), start ``git maintenance
        run --auto`` (its gc task: ``git gc --auto``, which also packs refs and writes
        the commit-graph) detached, so no commit waits for it. It takes git's
        maintenance lock, so it never overlaps a scheduled or hand-started maintenance,
        and reads the configured limits. A repository with no commit-graph at all (a
        fresh clone) gets one written, detached, the same way."""
        try:
            loose = len(os.listdir(self.objects_dir / "17"))
        except OSError:
            loose = 0
        try:
            packs = sum(n.endswith(".pack") for n in os.listdir(self.objects_dir / "pack"))
        except OSError:
            packs = 0
        _DETACHED[:] = [proc for proc in _DETACHED if proc.poll() is None]  # reap
        if _DETACHED:
            return
        if loose * 256 <= _GC_AUTO and packs <= _PACK_LIMIT:
            if not self._graph_behind(packs):
                return
            # a walk over many task branches reads each tip from the commit-graph when
            # it is there; a clone has none (and may not gc for long), and versions made
            # since the last gc are not in it: a new layer (``--split``) adds them
            command = ["git", "commit-graph", "write", "--reachable", "--split", "--no-progress"]
        else:
            # gc must not detach itself: the maintenance lock covers it whole
            command = ["git", "-c", "gc.autoDetach=false", "maintenance", "run", "--auto"]
            command.append("--quiet")
        with contextlib.suppress(OSError):
            proc = subprocess.Popen(
                command,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=git_env(),
                start_new_session=True,
            )
            _DETACHED.append(proc)
            # reaped when it ends, not left a zombie until the next commit asks
            threading.Thread(target=proc.wait, name="artifact-store-reap", daemon=True).start()

    def _graph_behind(self, packs: int) -> bool:
        """No commit-graph in a repository of thousands of refs, or one that misses the
        commits of at least _GRAPH_BEHIND packs (one a version) written since."""
        info = self.objects_dir / "info"
        graph = next(
            (
                g
                for g in (info / "commit-graphs" / "commit-graph-chain", info / "commit-graph")
                if g.exists()
            ),
            None,
        )
        try:
            if graph is None:  # only where there is much to walk
                return (self.common_dir / "packed-refs").stat().st_size >= _GRAPH_REFS_BYTES
            if packs < _GRAPH_BEHIND:
                return False
            since = graph.stat().st_mtime
            pack_dir = self.objects_dir / "pack"
            newer = sum(
                1
                for name in os.listdir(pack_dir)
                if name.endswith(".pack") and (pack_dir / name).stat().st_mtime > since
            )
        except OSError:
            return False
        return newer >= _GRAPH_BEHIND

    def lock_files(self) -> list[tuple[Path, float, bool]]:
        """Every ref lock (``*.lock`` under refs/, ``packed-refs.lock``) as (path, age in
        seconds, held): held when a live process has it open, or while any git process
        works in this repository (git closes a ref lock between writing and committing
        it, so an open file is not the only sign). Known on Linux; elsewhere only age."""
        common = self.common_dir
        found = [p for p in (common / "refs").rglob("*.lock") if p.is_file()]
        if (common / "packed-refs.lock").is_file():
            found.append(common / "packed-refs.lock")
        open_now = _open_files() if found else set()
        busy = bool(found) and _git_running_in({str(self.cwd), str(self.git_dir), str(common)})
        now = time.time()
        out = []
        for path in found:
            with contextlib.suppress(OSError):
                held = busy or str(path) in open_now
                out.append((path, now - path.stat().st_mtime, held))
        return out

    def tree_bytes(self, entries: Iterable[TreeEntry]) -> bytes:
        def key(e: TreeEntry) -> bytes:
            return e.name + b"/" if e.mode == MODE_TREE else e.name

        return b"".join(e.mode + b" " + e.name + b"\0" + e.sha for e in sorted(entries, key=key))

    def write_tree(self, entries: Iterable[TreeEntry]) -> str:
        return self.write_object(b"tree", self.tree_bytes(entries))

    def sign(self, payload: bytes) -> bytes:
        """A detached signature of ``payload`` with the user's git signing setup."""
        return Signer(self.cwd).sign(payload)

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
    def prepare_transaction(self, reflog: str) -> None:
        """Start the ref updater a later :meth:`transaction` with this reflog message
        will use (it waits for its first command; no ref is locked meanwhile)."""
        self._updater.ready(reflog)

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

    def refs_under(self, prefixes: Sequence[str]) -> list[tuple[str, str]]:
        """(object id, ref name) of every ref under ``prefixes`` (each ending in ``/``),
        sorted by name, as ``git for-each-ref`` lists them -- read from the ref files
        when git's files backend holds them (:func:`read_refs`), else from git. Like
        for-each-ref, a ref to a missing object is listed. Read-only: the list is
        shared with the next call while the ref files say the same."""
        ordered = sorted(set(prefixes))
        nested = any(b.startswith(a) for a, b in itertools.pairwise(ordered))
        hexsz = 40 if self.hash_name == "sha1" else 64
        found = None if nested else read_refs(self.common_dir, ordered, hexsz)
        packed = None
        if found is not None:
            packed = _PACKED.get((str(self.common_dir), *ordered), found[1], parse_packed)
        if found is None or packed is None:
            lines = self._for_each_ref(ordered, "%(objectname) %(refname)")
            return [(sha, ref) for sha, _, ref in (line.partition(" ") for line in lines)]
        loose = found[0]
        if not loose:  # the same list while packed-refs says the same (LastBuilt)
            return packed
        # a working clone's own refs are loose until git packs them (gc --auto): the
        # same merged list, too, while packed-refs and the loose files say the same
        stamp = (packed, tuple(sorted(loose.items())))
        return _MERGED.get((str(self.common_dir), *ordered), stamp, _overlay)

    def for_each_ref(self, patterns: Sequence[str], fmt: str) -> list[str]:
        """``git for-each-ref --format=fmt patterns`` as lines. The store's own reads --
        ref name and object id of the refs under a few prefixes -- are read from the ref
        files (:meth:`refs_under`): a push or a listing makes several, and a process
        costs more than the reads."""
        if not patterns:
            return []
        shape = _REF_FORMATS.get(fmt)
        if shape is not None and all(p.endswith("/") and not _GLOB.search(p) for p in patterns):
            return [shape(sha, ref) for sha, ref in self.refs_under(patterns)]
        return self._for_each_ref(patterns, fmt)

    def _for_each_ref(self, patterns: Sequence[str], fmt: str) -> list[str]:
        out = self.run(["for-each-ref", f"--format={fmt}", *patterns]).stdout
        return [line for line in out.split("\n") if line]

    def is_ancestor(self, maybe_ancestor: str, commit: str) -> bool:
        """Whether ``maybe_ancestor`` exists here and is reachable from ``commit``."""
        ancestor, child = self.resolve([f"{maybe_ancestor}^{{commit}}", f"{commit}^{{commit}}"])
        if ancestor is None:
            return False
        if ancestor == child:
            return True
        if child is not None:  # a push's usual questions: the tip and its parent
            below, above = self.read_commit(child), self.read_commit(ancestor)
            if below is not None and ancestor in below.parents:
                return True
            if above is not None and child in above.parents:
                return False  # its child: never its ancestor too
        res = self.run(["merge-base", "--is-ancestor", maybe_ancestor, commit], check=False)
        return res.returncode == 0

    def remote_exists(self, remote: str) -> bool:
        return bool(self.remote_urls(remote)[0])

    def remote_urls(self, remote: str) -> tuple[str, str]:
        """(``remote.<name>.url``, ``remote.<name>.pushurl``) as configured ('' where
        unset; the last value where several are), read in one git call -- and not again
        while the repository's and the user's config files and GIT_CONFIG* variables
        are what they were (a push asks three times)."""
        stamp = _config_stamp(self.git_dir, self.common_dir)
        if stamp is None or self._remote_urls is None or self._remote_urls[0] != stamp:
            res = self.run(["config", "-z", "--get-regexp", r"^remote\..*url$"], check=False)
            self._remote_urls = (stamp, res.stdout)
        found = {"url": "", "pushurl": ""}
        for item in self._remote_urls[1].split("\0"):
            key, _, value = item.partition("\n")
            section, dot, var = key.rpartition(".")
            if dot and section == f"remote.{remote}" and var in found:
                found[var] = value.strip()
        return found["url"], found["pushurl"]

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
                        learned.append((commit.sha, walk_facts(commit)))
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
                        commit = commit_from_facts(sha, cached.get(sha))
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
                        learned.append((commit.sha, walk_facts(commit)))
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
        widen_pipe(proc.stdout.fileno())
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
                    yield commit_from_log(record)
            if buf.strip(b"\n"):
                yield commit_from_log(buf)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.wait()


def _overlay(stamp: tuple[_Refs, tuple[tuple[str, str], ...]]) -> _Refs:
    """(object id, ref name) of packed refs with loose ones over them, by name."""
    packed, loose = stamp
    refs = {ref: sha for sha, ref in packed}
    refs.update(loose)
    return [(refs[ref], ref) for ref in sorted(refs)]


def _config_stamp(git_dir: Path, common_dir: Path) -> tuple[object, ...] | None:
    """What git's config for this repository is read from, as it stands: the files'
    contents (a rewrite of the same size within a timestamp's tick is still seen) and
    the variables that add or point elsewhere. None when a file includes others
    (``[include]``, ``[includeIf]``: other files, or a condition on the branch): then
    git is asked every time."""
    home = os.environ.get("HOME")
    xdg = os.environ.get("XDG_CONFIG_HOME") or (home and os.path.join(home, ".config"))
    paths = [
        os.path.join(common_dir, "config"),
        os.path.join(git_dir, "config.worktree"),  # (extensions.worktreeConfig)
        os.environ.get("GIT_CONFIG_GLOBAL") or (home and os.path.join(home, ".gitconfig")),
        xdg and os.path.join(xdg, "git", "config"),  # (no HOME: git reads neither)
        os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig",
    ]
    contents: list[object] = []
    for path in paths:
        if not path:
            continue
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            contents.append((path, None))
            continue
        if b"include" in data.lower():
            return None
        contents.append((path, data))
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("GIT_CONFIG"))
    return (*contents, *env)


def _committer_time(data: bytes) -> int | None:
    """The committer time of a raw commit object (None if it has no committer line)."""
    end = data.find(b"\n\n")
    head = data if end < 0 else data[:end]
    start = head.find(b"\ncommitter ")
    if start < 0:
        return None
    line = head[start + 1 :].split(b"\n", 1)[0]
    parts = line.rsplit(b" ", 2)
    try:
        return int(parts[1]) if len(parts) == 3 else None
    except ValueError:
        return None


_REMEDY = {
    errno.ENOSPC: "the disk is full: free some space and commit again",
    errno.EDQUOT: "the disk quota is used up: free some space and commit again",
    errno.EROFS: "the repository is on read-only storage: commit from a writable clone",
    errno.EACCES: "no permission: check the owner and mode of that directory",
    errno.EPERM: "no permission: check the owner and mode of that directory",
}


def _write_failure(exc: OSError, objects_dir: Path) -> str:
    """What a failed object write says: where, why in git's words, what to do."""
    where = exc.filename or objects_dir
    remedy = _REMEDY.get(exc.errno or 0, "check the disk and the repository's permissions")
    return (
        f"cannot write to the object database at {where}: {exc.strerror or exc}; {remedy} "
        "(nothing was committed)"
    )


def _open_files() -> set[str]:
    """Paths any process here has open (from /proc; empty where there is none)."""
    paths: set[str] = set()
    with contextlib.suppress(OSError):
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                with contextlib.suppress(OSError):
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        with contextlib.suppress(OSError):
                            paths.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return paths


def _git_running_in(places: set[str]) -> bool:
    """Whether a git process (other than ours) has one of ``places`` as its directory."""
    with contextlib.suppress(OSError):
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                if comm.startswith("git") and os.readlink(f"/proc/{pid}/cwd") in places:
                    return True
    return False
