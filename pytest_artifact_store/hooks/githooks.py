"""Plain git hooks: what they scan (staged blobs, pushed blobs) and how they are installed.

For repositories that do not use the pre-commit framework, ``hooks/pre-commit`` and
``hooks/pre-push`` (shipped at the top of the project and inside this package) call the
hook modules with ``--staged`` / ``--pre-push``; ``artifact-store install-hooks`` copies
them into the repository's hooks directory (``git rev-parse --git-path hooks``, which
honours ``core.hooksPath``) without clobbering a hook that is already there.

Git exports ``GIT_DIR``, ``GIT_INDEX_FILE`` and friends to hooks; nested git calls that
inherit them misbehave (pre-commit's ``no_git_env()`` drops them for the same reason).
:func:`git_env` drops every inherited ``GIT_*`` variable except the few that configure
transport and ``GIT_INDEX_FILE``: during ``git commit -a`` or ``git commit PATH`` the
index being committed *is* that file, and the staged scan must read exactly it.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pytest_artifact_store import git
from pytest_artifact_store.errors import ArtifactStoreError

__all__ = [
    "HOOK_NAMES",
    "MARKER",
    "Blob",
    "HookInstallError",
    "git_env",
    "hooks_dir",
    "index_paths",
    "install_hooks",
    "pushed_blobs",
    "read_blobs",
    "staged_blobs",
]

HOOK_NAMES = ("pre-commit", "pre-push")
MARKER = "# installed by pytest-artifact-store"
CHAINED_SUFFIX = ".artifact-store-chained"
ZERO_SHA = frozenset({"0" * 40, "0" * 64})


class HookInstallError(ArtifactStoreError):
    """A hook could not be installed (an existing hook is in the way, or git failed)."""


@dataclass(frozen=True)
class Blob:
    """A file as git holds it: its path and blob id."""

    path: str  # the repository path the content is staged or pushed at
    sha: str


def git_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git calls made from a hook (GIT_INDEX_FILE kept)."""
    return git.git_env(environ, keep_index=True)


def _git(
    args: Sequence[str], cwd: str | os.PathLike[str] | None, stdin: bytes | None = None
) -> bytes:
    return git.run_git(args, cwd=cwd, input=stdin, keep_index=True).raw


def staged_blobs(repo: str | os.PathLike[str] | None = None) -> list[Blob]:
    """The blobs staged for the next commit that differ from HEAD (added/copied/modified)."""
    names = _git(
        ["diff", "--cached", "--name-only", "-z", "--no-renames", "--diff-filter=ACMR"], repo
    )
    paths = [p for p in names.decode("utf-8", "surrogateescape").split("\0") if p]
    if not paths:
        return []
    listing = _git(["ls-files", "--stage", "-z", "--", *paths], repo)
    blobs = []
    for entry in listing.decode("utf-8", "surrogateescape").split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, sha, _stage = meta.split()
        if mode.startswith("160"):  # a submodule commit, not content
            continue
        blobs.append(Blob(path, sha))
    return blobs


def index_paths(repo: str | os.PathLike[str] | None = None) -> frozenset[str]:
    """Every path in the index (the tree the next commit will have)."""
    out = _git(["ls-files", "-z", "--cached"], repo)
    return frozenset(p for p in out.decode("utf-8", "surrogateescape").split("\0") if p)


def pushed_blobs(
    updates: Sequence[str], remote: str | None, repo: str | os.PathLike[str] | None = None
) -> list[Blob]:
    """Blobs that the pushed commits add beyond what the remote already has.

    ``updates`` are pre-push's stdin lines: ``<local ref> <local sha> <remote ref> <remote sha>``.
    """
    commits: list[str] = []
    for line in updates:
        parts = line.split()
        if len(parts) != 4 or parts[1] in ZERO_SHA:
            continue  # a malformed line, or a deletion
        exclude = ["--not"]
        if remote:
            exclude.append(f"--remotes={remote}")
        if parts[3] not in ZERO_SHA and _has_object(parts[3], repo):
            exclude.append(parts[3])
        out = _git(["rev-list", parts[1], *exclude], repo)
        commits.extend(out.decode().split())
    seen: set[str] = set()
    blobs: list[Blob] = []
    for commit in dict.fromkeys(commits):
        out = _git(
            [
                "diff-tree",
                "-r",
                "-z",
                "--root",
                "--no-commit-id",
                "--no-renames",
                "--diff-filter=ACMR",
                commit,
            ],
            repo,
        )
        fields = out.decode("utf-8", "surrogateescape").split("\0")
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            parts = meta.split()
            if len(parts) < 4 or parts[1].startswith("160"):
                continue
            sha = parts[3]
            if sha not in seen:
                seen.add(sha)
                blobs.append(Blob(path, sha))
    return blobs


def _has_object(sha: str, repo: str | os.PathLike[str] | None) -> bool:
    try:
        _git(["cat-file", "-e", f"{sha}^{{commit}}"], repo)
    except ArtifactStoreError:
        return False
    return True


def read_blobs(
    blobs: Sequence[Blob], repo: str | os.PathLike[str] | None = None
) -> Iterator[tuple[Blob, bytes]]:
    """Each blob's content, read with one ``git cat-file --batch``."""
    if not blobs:
        return
    out = _git(["cat-file", "--batch"], repo, stdin="".join(f"{b.sha}\n" for b in blobs).encode())
    pos = 0
    for blob in blobs:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        if len(header) < 3 or header[1] != b"blob":
            pos = header_end + 1
            continue
        size = int(header[2])
        start = header_end + 1
        yield blob, out[start : start + size]
        pos = start + size + 1


def hooks_dir(repo: str | os.PathLike[str] | None = None) -> Path:
    """The repository's hooks directory (``core.hooksPath`` honoured)."""
    cwd = Path(repo) if repo is not None else Path.cwd()
    out = _git(["rev-parse", "--git-path", "hooks"], cwd).decode().strip()
    path = Path(out)
    return path if path.is_absolute() else (cwd / path).resolve()


def hook_script(name: str, python: str | None = None) -> str:
    """The shipped hook ``name`` with the interpreter to use written in."""
    text = (resources.files("pytest_artifact_store") / "hooks" / name).read_text(encoding="utf-8")
    exe = python or sys.executable or "python3"
    return text.replace(
        '"${ARTIFACT_STORE_PYTHON:-python3}"', f'"${{ARTIFACT_STORE_PYTHON:-{exe}}}"'
    )


def install_hooks(
    repo: str | os.PathLike[str] | None = None,
    *,
    names: Sequence[str] = HOOK_NAMES,
    force: bool = False,
    chain: bool = False,
    python: str | None = None,
) -> list[str]:
    """Install the plain hooks; returns one line per hook saying what was done.

    A hook already there that is not ours is never overwritten silently: with ``chain``
    it is kept beside ours (``<hook>.artifact-store-chained``) and runs first; with
    ``force`` it is replaced (a copy is kept as ``<hook>.bak``); otherwise nothing is
    changed and :class:`HookInstallError` says what to do.
    """
    directory = hooks_dir(repo)
    unknown = [n for n in names if n not in HOOK_NAMES]
    if unknown:
        raise HookInstallError(f"unknown hook {unknown[0]!r}: choose from {', '.join(HOOK_NAMES)}")
    blocked = [n for n in names if _foreign_hook(directory / n)]
    if blocked and not (force or chain):
        raise HookInstallError(
            f"{directory / blocked[0]} already exists and was not installed by "
            "pytest-artifact-store; re-run with --chain to keep it and run it first, "
            "or --force to replace it (a copy is kept as .bak)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for name in names:
        target = directory / name
        note = "installed"
        if name in blocked:
            if chain:
                target.replace(directory / (name + CHAINED_SUFFIX))
                note = f"installed (chains to the existing hook, kept as {name}{CHAINED_SUFFIX})"
            else:
                target.replace(directory / (name + ".bak"))
                note = f"installed (the existing hook was moved to {name}.bak)"
        elif target.exists():
            note = "updated"
        target.write_text(hook_script(name, python), encoding="utf-8")
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        done.append(f"{target}: {note}")
    return done


def _foreign_hook(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return MARKER not in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True


def quoted(args: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
