"""Recording a capsule: the state a session ran in, as plain JSON for ``metadata.json``.

Two halves. :func:`capture` is the costly one (git, ``importlib.metadata`` over the
environment, digests of the inputs): under ``pytest --artifact-store`` the store's worker
process runs it while the tests run, so a session does not wait for it. :func:`assemble`
adds what only pytest's process knows at the end (the command line, the node ids that
ran, the recorded seeds, the listed environment variables).

No environment variable's value is recorded unless its name is listed, and no diff is
ever recorded: a dirty work tree is identified by a digest (:func:`code_state`).
"""

from __future__ import annotations

import glob
import hashlib
import os
import platform
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CAPSULE_KEY = "capsule"
CAPSULE_VERSION = 1
_CHUNK = 1 << 20
_STATUS_OPTIONS = ("--untracked-files=all", "--no-renames", "--ignore-submodules=none")
_BYTECODE = "__pycache__"  # what Python writes beside the code it imports


# ---------------------------------------------------------------- globs
def has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def glob_files(pattern: str, base: Path) -> list[tuple[str, Path]]:
    """(name in a task directory, file) for each match of ``pattern`` relative to ``base``
    (``**`` recursive; ``~`` expanded); a directory gives the files under it."""
    expanded = os.path.expanduser(pattern)
    if has_magic(expanded):
        found = glob.glob(expanded, root_dir=base, recursive=True)
        matches = sorted(base / m for m in found)
    else:
        path = Path(expanded) if os.path.isabs(expanded) else base / expanded
        matches = [path] if path.exists() else []
    out: list[tuple[str, Path]] = []
    for match in matches:
        if match.is_dir():
            out.extend(files_under(match))
        elif match.is_file():
            out.append((match.name, match))
    return out


def files_under(top: Path) -> list[tuple[str, Path]]:
    """Like the library's directory arguments: files at their paths relative to ``top``."""
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            path = Path(dirpath, name)
            out.append((path.relative_to(top).as_posix(), path))
    return out


# ---------------------------------------------------------------- digests
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _state_of(path: Path) -> str:
    """What a changed path holds now, for the dirty digest: its content's sha256, a
    symlink's target, the commit and uncommitted state of a nested checkout (a
    submodule), or that it is another directory or gone."""
    if path.is_symlink():
        return "link:" + os.readlink(path)
    if path.is_file():
        try:
            return file_sha256(path)
        except OSError as exc:
            return f"unreadable:{exc.errno}"
    if not path.is_dir():
        return "deleted"
    if (path / ".git").exists():  # a submodule checked out at another commit, or edited
        nested = code_state(path)
        return f"checkout:{nested.commit}:{nested.diff_sha256 or nested.problem or 'clean'}"
    return "directory"


# ---------------------------------------------------------------- the code
@dataclass(frozen=True)
class CodeState:
    """The checkout holding the code under test: its HEAD commit and uncommitted state.

    ``diff_sha256`` is the sha256 over every path that differs from HEAD (tracked files
    changed, staged or not, deleted, and untracked files that are not ignored), each with
    its current content's digest: equal digests mean the same uncommitted state. It is
    None for a clean tree. Bytecode caches (``__pycache__``) are not code: a repository
    that does not ignore them stays clean. ``problem`` says why nothing is known (no git
    repository).
    """

    root: Path | None
    commit: str | None
    dirty: bool = False
    diff_sha256: str | None = None
    changed_files: int = 0
    untracked_files: int = 0
    problem: str | None = None

    def describe(self) -> str:
        """``1a2b3c4d5e (clean)``, ``… (dirty: 2 changed, 1 untracked)``, or the problem."""
        if self.problem:
            return self.problem
        head = (self.commit or "no commit")[:10]
        if not self.dirty:
            return f"{head} (clean)"
        return f"{head} (dirty: {self.changed_files} changed, {self.untracked_files} untracked)"


def code_state(directory: Path, *, written_before_ns: int | None = None) -> CodeState:
    """The state of the git checkout containing ``directory``, read without taking any
    lock (``--no-optional-locks``: the user's index is never refreshed or written).

    ``written_before_ns``: untracked files written at or after that time are this
    session's outputs, not part of the code it ran (a session's start, on the file clock).
    """
    from pytest_artifact_store.git.process import run_git

    if not directory.is_dir():  # not git's fault: say what is wrong
        return CodeState(None, None, problem=f"{directory} is not a directory")
    try:
        top = run_git(["rev-parse", "--show-toplevel"], cwd=directory, check=False)
    except Exception as exc:  # git missing: the capsule says so, the commit goes on
        return CodeState(None, None, problem=f"git cannot be run: {exc}")
    if top.returncode or not top.stdout.strip():
        return CodeState(None, None, problem=f"{directory} is not in a git repository")
    root = Path(top.stdout.strip())
    head = run_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], cwd=root, check=False)
    commit = head.stdout.strip() or None
    status = run_git(
        ["--no-optional-locks", "status", "--porcelain=v1", "-z", *_STATUS_OPTIONS],
        cwd=root,
        check=False,
    )
    if status.returncode:
        return CodeState(root, commit, problem=f"git status failed in {root}: {status.stderr}")
    changed: list[str] = []
    untracked: list[str] = []
    for entry in status.raw.split(b"\0"):
        if len(entry) > 3:
            path = os.fsdecode(entry[3:]).rstrip("/")
            if _BYTECODE in path.split("/"):  # Python's own cache: never code
                continue
            (untracked if entry[:2] == b"??" else changed).append(path)
    if written_before_ns is not None:
        untracked = [p for p in untracked if not _written_since(root / p, written_before_ns)]
    if not changed and not untracked:
        return CodeState(root, commit)
    digest = hashlib.sha256()
    for path in sorted(set(changed) | set(untracked)):
        # bytes as the file system has them: a name need not be UTF-8
        digest.update(b"%s\0%s\n" % (os.fsencode(path), os.fsencode(_state_of(root / path))))
    return CodeState(root, commit, True, digest.hexdigest(), len(changed), len(untracked))


def _written_since(path: Path, since_ns: int) -> bool:
    try:
        return path.lstat().st_mtime_ns >= since_ns
    except OSError:
        return False


def relative_to(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` with '/' separators (``.`` for the root itself), or
    absolute when it lies outside ``root`` (or there is no root); a name that is not
    UTF-8 has its bytes escaped (``\\xff``), as JSON cannot hold it."""
    resolved = path.resolve()
    text = resolved.as_posix()
    if root is not None and resolved.is_relative_to(root.resolve()):
        text = resolved.relative_to(root.resolve()).as_posix() or "."
    return os.fsencode(text).decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------- the interpreter
def python_info() -> dict[str, str]:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": sys.platform,
        "machine": platform.machine(),
    }


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages() -> dict[str, str]:
    """{normalised name: version} of every distribution on ``sys.path``, sorted; when a
    name is installed twice, the first on the path (the one ``import`` finds) counts."""
    from importlib import metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name, version = dist.metadata["Name"], dist.version
        if isinstance(name, str) and name and isinstance(version, str):
            found.setdefault(normalize(name), version)
    return dict(sorted(found.items()))


# ---------------------------------------------------------------- inputs
def hash_inputs(
    patterns: Iterable[str], base: Path, root: Path | None
) -> tuple[dict[str, str], list[str]]:
    """({path relative to ``root``: sha256} of the files the globs match, the patterns
    that matched nothing)."""
    digests: dict[str, str] = {}
    unmatched: list[str] = []
    for pattern in patterns:
        matches = glob_files(pattern, base)
        if not matches:
            unmatched.append(pattern)
        for _name, path in matches:
            digests[relative_to(path, root)] = file_sha256(path)
    return dict(sorted(digests.items())), unmatched


# ---------------------------------------------------------------- the whole
@dataclass(frozen=True)
class Request:
    """What :func:`capture` needs, as plain data (the plugin sends it to its worker)."""

    rootdir: str
    invocation_dir: str
    inputs: list[str]
    input_base: str
    started_ns: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Request:
        return cls(
            rootdir=str(wire["rootdir"]),
            invocation_dir=str(wire["invocation_dir"]),
            inputs=[str(p) for p in wire.get("inputs") or []],
            input_base=str(wire["input_base"]),
            started_ns=wire.get("started_ns"),
        )


def capture(request: Request) -> dict[str, Any]:
    """The costly half of a capsule: ``code``, ``python``, ``packages`` and ``inputs``."""
    rootdir = Path(request.rootdir)
    state = code_state(rootdir, written_before_ns=request.started_ns)
    code: dict[str, Any] = {
        "commit": state.commit,
        "dirty": state.dirty,
        "diff_sha256": state.diff_sha256,
        "changed_files": state.changed_files,
        "untracked_files": state.untracked_files,
        "rootdir": relative_to(rootdir, state.root),
        "invocation_dir": relative_to(Path(request.invocation_dir), state.root),
    }
    if state.problem:
        code["problem"] = state.problem
    out: dict[str, Any] = {"code": code, "python": python_info()}
    out["packages"] = installed_packages()
    if request.inputs:
        base = Path(request.input_base)
        digests, unmatched = hash_inputs(request.inputs, base, state.root)
        out["inputs"] = {
            "base": relative_to(base, state.root),
            "patterns": list(request.inputs),
            "sha256": digests,
        }
        if unmatched:
            out["inputs"]["unmatched"] = unmatched
    return out


# what pytest itself reads from the environment, changing what a session runs
PYTEST_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")


def pytest_environment(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """{name: value, None when unset} of :data:`PYTEST_ENV`: ``PYTEST_ADDOPTS`` is
    arguments, the others load plugins or not."""
    source = os.environ if environ is None else environ
    return {name: source.get(name) for name in PYTEST_ENV}


def environment(names: Sequence[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """{name: value, or None when unset} of the listed variables only."""
    source = os.environ if environ is None else environ
    return {name: source.get(name) for name in sorted(set(names))}


def assemble(
    captured: Mapping[str, Any],
    *,
    args: Sequence[str],
    node_ids: Iterable[str],
    pytest_version: str,
    seeds: Mapping[str, Any],
    env: Mapping[str, Any],
    pytest_env: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The capsule as ``metadata.json`` records it. ``pytest_env``: pytest's own
    environment variables (:func:`pytest_environment`), part of its command line."""
    capsule: dict[str, Any] = {"version": CAPSULE_VERSION}
    capsule["code"] = captured.get("code")
    arguments = [str(a) for a in args]
    capsule["pytest"] = {
        "version": pytest_version,
        "args": arguments,
        "env": dict(pytest_env or {}),
        # the same as one shell line: the secret scan reads an option's value beside its
        # name there (``--api-token VALUE``), not two lines apart in a JSON list
        "command": shlex.join(["pytest", *arguments]),
        "node_ids": sorted(node_ids),
    }
    for key in ("python", "packages", "inputs"):
        if key in captured:
            capsule[key] = captured[key]
    capsule["seeds"] = dict(sorted(seeds.items()))
    capsule["env"] = dict(env)
    return capsule


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_env_name(name: str) -> str:
    """An environment variable name, or ValueError."""
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    return name
