"""``artifact-store-metadata``: validate metadata.json files against the packaged schema.

    artifact-store-metadata FILE ...     (pre-commit passes the metadata.json files)
    artifact-store-metadata --staged     (plain pre-commit hook: staged metadata.json blobs)

Prints one ``path: problem`` line per problem (each names the field) and returns 0 when
valid, 1 on problems, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import PurePosixPath

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.hooks import githooks
from pytest_artifact_store.metadata import check_metadata_blob, check_metadata_file

DEFAULT_NAME = "metadata.json"


def check_files(filenames: Sequence[str]) -> list[str]:
    return [f"{name}: {problem}" for name in filenames for problem in check_metadata_file(name)]


def check_staged(name: str = DEFAULT_NAME) -> list[str]:
    """Staged metadata files, checked against the staged tree (what the commit will hold)."""
    staged = githooks.staged_blobs()
    wanted = [b for b in staged if PurePosixPath(b.path).name == name]
    if not wanted:
        return []
    index_paths = githooks.index_paths()
    problems = []
    for blob, data in githooks.read_blobs(wanted):
        for problem in check_metadata_blob(data, blob.path, exists=index_paths.__contains__):
            problems.append(f"{blob.path}: {problem}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="artifact-store-metadata", description=__doc__.splitlines()[0]
    )
    parser.add_argument("filenames", nargs="*", help="metadata.json files to check")
    parser.add_argument(
        "--staged", action="store_true", help="check the staged metadata.json blobs"
    )
    args = parser.parse_args(argv)
    try:
        problems = check_staged() if args.staged else check_files(args.filenames)
    except ArtifactStoreError as exc:
        print(f"artifact-store-metadata: error: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
