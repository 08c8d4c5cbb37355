"""The plan step: turn the caller's files and metadata into checked, in-memory content.

Everything here runs before a single object is written: a refusal names the culprit
and leaves the repository exactly as it was. No git here.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError

PathArg: TypeAlias = "str | os.PathLike[str]"
FilesArg: TypeAlias = "PathArg | Sequence[PathArg] | Mapping[str, PathArg]"

#: Keys the store owns in metadata.json (a caller value must agree with the store's).
STORE_KEYS = (
    "schema_version",
    "workflow_id",
    "task_id",
    "correlation_id",
    "prompt_hash",
    "commit_timestamp",
    "files",
    "file_sha256",
    "base_commit",
)


@dataclass
class ArtifactFile:
    """A file to commit: its name in the task directory and its bytes, read once."""

    name: str  # path inside the task directory ("strategy.py", "plots/a.png")
    source: Path
    data: bytes
    executable: bool


def collect_files(files: FilesArg, *, reserved: str, max_size: int) -> list[ArtifactFile]:
    """Read every artifact into memory once, checking each on the way."""
    if isinstance(files, (str, os.PathLike)):
        items: list[tuple[str | None, Path]] = [(None, Path(files))]
    elif isinstance(files, Mapping):
        items = []
        for name, src in files.items():
            items.append((naming.check_tree_path("files name", name), _as_path(src)))
    else:
        try:
            items = [(None, _as_path(src)) for src in files]
        except TypeError:
            raise ArtifactStoreError(
                "files must be a list of paths or a mapping {name in the task directory: path}"
            ) from None
    if not items:
        raise ArtifactStoreError("files is empty: pass at least one artifact file")
    seen: dict[str, Path] = {}
    out: list[ArtifactFile] = []
    for dest, src in items:
        for name, path in _expand(dest, src):
            _check_dest(name, path, reserved)
            if name in seen:
                raise ArtifactStoreError(
                    f"two files would both be stored as {name!r}: {str(seen[name])!r} and "
                    f"{str(path)!r}; rename one (pass files as a mapping {{name: path}})"
                )
            seen[name] = path
            out.append(_read(name, path, max_size))
    return out


def _as_path(src: object) -> Path:
    if not isinstance(src, (str, os.PathLike)):
        raise ArtifactStoreError(f"files entries must be paths, got {type(src).__name__}")
    path = Path(src)
    if "\x00" in str(path):
        raise ArtifactStoreError(f"file path {str(path)!r} contains a NUL character")
    return path


def _stat(path: Path) -> os.stat_result:
    """stat() the path itself; symlinks are refused (an artifact is a real file)."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            os.stat(path)  # tells a broken link or a symlink loop apart from a good one
            real, parent = os.path.realpath(path), os.path.realpath(path.parent)
            if parent == real or parent.startswith(real + os.sep):
                raise ArtifactStoreError(
                    f"directory loop: {str(path)!r} is a symlink back to a parent directory"
                )
            raise ArtifactStoreError(
                f"file {str(path)!r} is a symlink (to {target!r}); pass the file it points "
                "to instead, so that what is committed is what you meant"
            )
        return st
    except FileNotFoundError:
        if os.path.lexists(path):
            raise ArtifactStoreError(
                f"file {str(path)!r} is a broken symlink (its target does not exist)"
            ) from None
        where = "" if path.is_absolute() else f" (relative to {os.getcwd()})"
        raise ArtifactStoreError(f"file {str(path)!r} does not exist{where}") from None
    except PermissionError:
        raise ArtifactStoreError(
            f"file {str(path)!r} is not accessible (permission denied)"
        ) from None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise ArtifactStoreError(f"file {str(path)!r} is a symlink loop") from None
        raise ArtifactStoreError(f"cannot read file {str(path)!r}: {exc.strerror}") from None


def _expand(dest: str | None, src: Path) -> Iterator[tuple[str, Path]]:
    st = _stat(src)
    if stat.S_ISDIR(st.st_mode):
        found = False
        for rel, path in _walk(src, src, {(st.st_dev, st.st_ino)}):
            found = True
            yield (f"{dest}/{rel}" if dest else rel), path
        if not found:
            raise ArtifactStoreError(f"directory {str(src)!r} contains no files to commit")
    elif stat.S_ISREG(st.st_mode):
        yield (dest or src.name), src
    else:
        raise ArtifactStoreError(
            f"file {str(src)!r} is not a regular file ({_kind(st.st_mode)}); "
            "pass regular files only"
        )


def _walk(root: Path, top: Path, ancestors: set[tuple[int, int]]) -> Iterator[tuple[str, Path]]:
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError as exc:
        raise ArtifactStoreError(f"cannot list directory {str(top)!r}: {exc.strerror}") from None
    for entry in entries:
        if entry.name == ".git":
            continue
        path = Path(entry.path)
        st = _stat(path)
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                raise ArtifactStoreError(
                    f"directory loop: {str(path)!r} links back to one of its parent directories"
                )
            yield from _walk(root, path, ancestors | {key})
        elif stat.S_ISREG(st.st_mode):
            yield path.relative_to(root).as_posix(), path
        else:
            raise ArtifactStoreError(
                f"file {str(path)!r} is not a regular file ({_kind(st.st_mode)})"
            )


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def _check_dest(name: str, path: Path, reserved: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ArtifactStoreError(f"file name of {str(path)!r} is not valid UTF-8") from None
    naming.check_tree_path(f"file name for {str(path)!r}", name)
    if name == reserved:
        raise ArtifactStoreError(
            f"{str(path)!r} would be stored as {reserved!r}, a name the store reserves for "
            "its metadata; rename the file or pass metadata through the metadata argument"
        )


def _read(name: str, path: Path, max_size: int) -> ArtifactFile:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except PermissionError:
        raise ArtifactStoreError(
            f"file {str(path)!r} is not readable (permission denied)"
        ) from None
    except OSError as exc:
        raise ArtifactStoreError(f"cannot open file {str(path)!r}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactStoreError(f"file {str(path)!r} is not a regular file")
        if st.st_size > max_size:
            raise ArtifactStoreError(
                f"file {str(path)!r} is {st.st_size} bytes, over max_file_size ({max_size} "
                "bytes); raise max_file_size or leave the file out"
            )
        if st.st_size == 0:
            raise ArtifactStoreError(f"file {str(path)!r} is empty; an artifact must have content")
        try:
            data = fh.read(max_size + 1)
        except OSError as exc:
            raise ArtifactStoreError(f"cannot read file {str(path)!r}: {exc.strerror}") from None
    if len(data) > max_size:
        raise ArtifactStoreError(f"file {str(path)!r} grew over max_file_size while being read")
    if not data:
        raise ArtifactStoreError(f"file {str(path)!r} is empty; an artifact must have content")
    return ArtifactFile(name, path, data, bool(st.st_mode & 0o111))


def check_metadata(metadata: object) -> dict[str, Any]:
    """A JSON-safe copy of the caller's metadata (str keys, finite numbers, UTF-8 text)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ArtifactStoreError(
            f"metadata must be a dict (a JSON object), got {type(metadata).__name__}"
        )
    return _json_value(metadata, "metadata")  # type: ignore[no-any-return]


def _json_value(value: object, where: str, depth: int = 0) -> Any:
    if depth > 64:
        raise ArtifactStoreError(f"{where} is nested too deeply (over 64 levels)")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ArtifactStoreError(
                f"{where} is {value!r}; JSON has no NaN or Infinity (use null or a finite number)"
            )
        return float(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ArtifactStoreError(f"{where} is not valid UTF-8 text (lone surrogate)") from None
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ArtifactStoreError(
                    f"{where} has a key {key!r} of type {type(key).__name__}; JSON keys are strings"
                )
            out[_json_value(key, f"{where} key", depth + 1)] = _json_value(
                item, f"{where}[{key!r}]", depth + 1
            )
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise ArtifactStoreError(
        f"{where} is a {type(value).__name__}, which is not JSON-serialisable; "
        "convert it to a string, number, list or dict"
    )
