"""``artifact-store-metadata``: validate the store's metadata.json files against the schema.

    artifact-store-metadata [--artifact-root PATH] [-v] FILE ...   (pre-commit passes files)
    artifact-store-metadata [--artifact-root PATH] [-v] --staged   (plain pre-commit hook)

Only the store's files are checked. A file is the store's when

- its repository path is ``<root>/**/metadata.json`` for an artifact root, or
- it is a JSON object that declares the store's ``"schema_version"`` (the packaged
  schema's ``const``, 1): such a file is validated wherever it lives.

Any other file (``docs/_static/metadata.json``, another tool's metadata) is left alone;
``--verbose`` names it on stderr.

The artifact roots, first found wins (the plugin's precedence):

1. ``--artifact-root PATH`` (repeatable or comma-separated; ``''`` or ``.``: anywhere);
2. ``ARTIFACT_STORE_ROOT`` in the environment;
3. ``artifact_store_root`` in the pytest configuration at the top of the repository, read
   from the file pytest itself would pick there (``pytest.toml``, ``.pytest.toml``,
   ``pytest.ini``, ``.pytest.ini``, ``pyproject.toml`` ``[tool.pytest.ini_options]`` or
   ``[tool.pytest]``, ``tox.ini`` ``[pytest]``, ``setup.cfg`` ``[tool:pytest]``);
4. ``ArtifactStoreConfig``'s default, :data:`~pytest_artifact_store.naming.DEFAULT_ARTIFACT_ROOT`.

Paths are matched relative to the top of the repository that holds the file; a file in no
repository (an artifact directory copied out) matches when the root appears anywhere in
its directory path. The configuration is read only when there is a file to decide about.

Prints one ``path: problem`` line per problem (each names the field) and returns 0 when
valid, 1 on problems, 2 on bad usage (or an unreadable pytest configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.hooks import githooks
from pytest_artifact_store.metadata import (
    check_metadata_blob,
    check_metadata_file,
    declares_schema_version,
    schema_version,
)
from pytest_artifact_store.pytestini import pytest_options

DEFAULT_NAME = naming.DEFAULT_METADATA_FILENAME
# The plugin's setting "root" (pytest_plugin/settings.py), spelled as it spells them;
# tests/test_metadata_hook_scope.py checks that the two agree.
ROOT_INI_KEY = "artifact_store_root"
ROOT_ENV_VAR = "ARTIFACT_STORE_ROOT"
ANYWHERE = frozenset({"", "."})


@dataclass(frozen=True)
class Scope:
    """The artifact roots (repository paths; empty: anywhere) and where they came from."""

    roots: tuple[str, ...]
    source: str
    name: str = naming.DEFAULT_METADATA_FILENAME

    def describe(self) -> str:
        if not self.roots:
            return f"a {self.name} ({self.source})"
        where = ", ".join(f"{root}/" for root in self.roots)
        return f"{self.name} under {where} ({self.source})"

    def covers(self, path: PurePosixPath, *, anchored: bool = True) -> bool:
        """``path`` is ``<root>/**/<name>``; unanchored, ``<root>`` may start anywhere."""
        if path.name != self.name:
            return False
        if not self.roots:
            return True
        parents = path.parts[:-1]
        for root in self.roots:
            parts = PurePosixPath(root).parts
            starts = range(len(parents) - len(parts) + 1) if not anchored else range(1)
            if any(parents[i : i + len(parts)] == parts for i in starts):
                return True
        return False


def parse_roots(values: Sequence[str]) -> tuple[str, ...]:
    """``--artifact-root`` values: each a root or a comma-separated list of roots."""
    parts = [part.strip() for value in values for part in value.split(",")]
    if any(part in ANYWHERE for part in parts if part) or not any(parts):
        return ()
    return tuple(dict.fromkeys(naming.check_tree_path("--artifact-root", p) for p in parts if p))


def resolve_scope(
    arguments: Sequence[str] | None,
    top: Path | None,
    environ: Mapping[str, str] | None = None,
) -> Scope:
    """The scope from the arguments, else the environment, else the pytest configuration
    at ``top`` (the repository's top directory), else the store's default."""
    if arguments:
        return Scope(parse_roots(arguments), "--artifact-root")
    environ = os.environ if environ is None else environ
    raw = environ.get(ROOT_ENV_VAR, "").strip()
    if raw:
        return Scope(_one_root(raw, ROOT_ENV_VAR, "the environment"), ROOT_ENV_VAR)
    found = configured_root(top) if top is not None else None
    if found is not None:
        value, filename = found
        return Scope(_one_root(value, ROOT_INI_KEY, filename), f"{ROOT_INI_KEY} in {filename}")
    return Scope((naming.DEFAULT_ARTIFACT_ROOT,), "the default")


def _one_root(value: str, name: str, source: str) -> tuple[str, ...]:
    """One root, as the plugin takes it: not empty; ``/`` is the repository's top."""
    try:
        if not value.strip():
            raise ArtifactStoreError(f"{name} must not be empty")
        root = naming.check_tree_path(name, value, allow_empty=True)
    except ArtifactStoreError as exc:
        raise ArtifactStoreError(f"{exc} (from {source})") from None
    return (root,) if root else ()


def configured_root(top: Path) -> tuple[str, str] | None:
    """``(artifact_store_root, file name)`` from the pytest configuration file at ``top``.

    The file is the first that configures pytest, as pytest chooses it; None when that
    file does not set the key (or there is none).
    """
    found = pytest_options(top, ROOT_INI_KEY, "--artifact-root")
    if found is None:
        return None
    options, filename = found
    value = options.get(ROOT_INI_KEY)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ArtifactStoreError(
            f"{ROOT_INI_KEY} in {top / filename} must be a string such as "
            f"{naming.DEFAULT_ARTIFACT_ROOT!r}, got {value!r}"
        )
    return value, filename


def repo_top(directory: Path) -> Path | None:
    """The top of the git work tree holding ``directory`` (the nearest ``.git``), if any."""
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def where_in_repo(filename: str) -> tuple[PurePosixPath, bool]:
    """``(path, anchored)``: the path relative to its repository's top (anchored), or the
    absolute path when no repository holds it (unanchored)."""
    absolute = Path(os.path.abspath(filename))
    top = repo_top(absolute.parent)
    if top is None:
        return PurePosixPath(absolute.as_posix()), False
    return PurePosixPath(absolute.relative_to(top).as_posix()), True


def declares_store_version(data: bytes) -> bool:
    """The content is a JSON object declaring the store's ``schema_version``."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        return False
    return declares_schema_version(obj)


def skipped_reason(scope: Scope) -> str:
    return f'skipped: not {scope.describe()}, and no "schema_version": {schema_version()}'


Skipped = Callable[[str, Scope], None]


def _scope(arguments: Sequence[str] | None) -> Scope:
    return resolve_scope(arguments, repo_top(Path.cwd()))


def is_store_file(filename: str, scope: Scope) -> bool:
    """``filename`` (on disk) is under the artifact root or declares the store's version."""
    path, anchored = where_in_repo(filename)
    if scope.covers(path, anchored=anchored):
        return True
    try:
        data = Path(filename).read_bytes()
    except OSError:
        return False  # not ours to complain about: we cannot tell that it is the store's
    return declares_store_version(data)


def check_files(
    filenames: Sequence[str], scope: Scope | None = None, skipped: Skipped | None = None
) -> list[str]:
    """Problems with the store's files among ``filenames`` (``path: problem`` lines)."""
    if not filenames:
        return []
    scope = scope or _scope(None)
    problems: list[str] = []
    for name in filenames:
        if not is_store_file(name, scope):
            if skipped:
                skipped(name, scope)
            continue
        problems.extend(f"{name}: {problem}" for problem in check_metadata_file(name))
    return problems


def check_staged(scope: Scope | None = None, skipped: Skipped | None = None) -> list[str]:
    """Staged store metadata files, checked against the staged tree (what the commit holds)."""
    staged = githooks.staged_blobs()
    wanted = [b for b in staged if PurePosixPath(b.path).name == DEFAULT_NAME]
    if not wanted:
        return []
    scope = scope or _scope(None)
    index_paths: frozenset[str] | None = None
    problems = []
    for blob, data in githooks.read_blobs(wanted):
        if not (scope.covers(PurePosixPath(blob.path)) or declares_store_version(data)):
            if skipped:
                skipped(blob.path, scope)
            continue
        if index_paths is None:
            index_paths = githooks.index_paths()
        for problem in check_metadata_blob(data, blob.path, exists=index_paths.__contains__):
            problems.append(f"{blob.path}: {problem}")
    return problems


def _report_skipped(name: str, scope: Scope) -> None:
    print(f"{name}: {skipped_reason(scope)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="artifact-store-metadata", description=__doc__.splitlines()[0]
    )
    parser.add_argument("filenames", nargs="*", help="metadata.json files to check")
    parser.add_argument(
        "--staged", action="store_true", help="check the staged metadata.json blobs"
    )
    parser.add_argument(
        "--artifact-root",
        action="append",
        metavar="PATH",
        help="directory holding the store's task directories, relative to the repository's "
        "top (repeatable or comma-separated; '' or '.': anywhere). Default: "
        f"$ARTIFACT_STORE_ROOT, else artifact_store_root in the pytest configuration, "
        f"else {naming.DEFAULT_ARTIFACT_ROOT}",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="name the files left alone, on stderr"
    )
    args = parser.parse_args(argv)
    skipped = _report_skipped if args.verbose else None
    try:
        scope = _scope(args.artifact_root) if args.artifact_root else None
        if args.staged:
            problems = check_staged(scope, skipped)
        else:
            missing = [f for f in args.filenames if not os.path.exists(f)]
            if missing:
                raise ArtifactStoreError(f"{missing[0]}: no such file or directory")
            problems = check_files(args.filenames, scope, skipped)
    except ArtifactStoreError as exc:
        print(f"artifact-store-metadata: error: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
