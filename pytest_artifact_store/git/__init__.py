"""The git layer: the only code that runs git or reads and writes its objects.

Above it, the store decides *what* to write; this package decides *how* git stores it:
plumbing only (objects, trees, ``commit-tree``-equivalent writes, one ``update-ref
--stdin`` transaction), never the work tree, the index or HEAD.
"""

from __future__ import annotations

from pytest_artifact_store.git.cache import JsonCache, LastBuilt
from pytest_artifact_store.git.objects import (
    MODE_EXEC,
    MODE_FILE,
    MODE_TREE,
    Commit,
    TreeEntry,
    blob_json,
    parse_commit,
    parse_trailers,
)
from pytest_artifact_store.git.process import (
    GitResult,
    deadline_left,
    git_env,
    last_lines,
    redact,
    run_git,
)
from pytest_artifact_store.git.repository import Repository

__all__ = [
    "MODE_EXEC",
    "MODE_FILE",
    "MODE_TREE",
    "Commit",
    "GitResult",
    "JsonCache",
    "LastBuilt",
    "Repository",
    "TreeEntry",
    "blob_json",
    "deadline_left",
    "git_env",
    "last_lines",
    "parse_commit",
    "parse_trailers",
    "redact",
    "run_git",
]
