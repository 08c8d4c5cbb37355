"""The store's common ground: the repository and configuration every part works on,
naming (branches, task directories, identities) and tree surgery along one path."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import (
    MODE_TREE,
    Repository,
    TreeEntry,
)
from pytest_artifact_store.store.config import ArtifactStoreConfig

if TYPE_CHECKING:  # the scanner loads on first use
    from pytest_artifact_store.scan import Scanner

MAX_ATTEMPTS = 60


TIMESTAMP_TRAILER = "Commit-Timestamp"  # only without metadata.json


TRAILERS = (
    ("Workflow-Id", "workflow_id"),
    ("Task-Id", "task_id"),
    ("Correlation-Id", "correlation_id"),
    ("Prompt-Hash", "prompt_hash"),
    ("Agent-Version", "agent_version"),
    ("LLM-Version", "llm_version"),
)


_S = TypeVar("_S", bound="StoreBase")


class StoreBase:
    """A repository opened with its configuration."""

    def __init__(self, config: ArtifactStoreConfig | None = None) -> None:
        self.config = config if config is not None else ArtifactStoreConfig()
        if not isinstance(self.config, ArtifactStoreConfig):
            raise ArtifactStoreError("config must be an ArtifactStoreConfig")
        self.repo = Repository(self.config.repo_path)
        self._scanner: Scanner | None = None
        # the version the last commit_artifacts call landed (or found), even if it was
        # interrupted while pushing: the pytest plugin says so after a Ctrl-C
        self.last_commit: str | None = None

    def close(self) -> None:
        self.repo.close()

    def gitpython_repo(self) -> Any:
        """The repository as a GitPython ``git.Repo`` (imported on first call), for
        anything beyond the store's API: ``store.gitpython_repo().git.log(...)``."""
        return self.repo.gitpython()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def branch_for(self, workflow_id: str, task_id: str) -> str:
        return naming.branch_name(self.config.branch_prefix, workflow_id, task_id)

    def task_dir(self, task_id: str) -> str:
        root = self.config.artifact_root
        return f"{root}/{task_id}" if root else task_id

    def ident(self, ts: datetime) -> bytes:
        """The configured author/committer as git writes it, at ``ts`` (UTC)."""
        cfg = self.config
        who = f"{cfg.commit_author_name} <{cfg.commit_author_email}>"
        return f"{who} {int(ts.timestamp())} +0000".encode()

    def user_ident(self, purpose: str) -> bytes:
        """The user's own git identity with the time now, as ``git commit``/``git tag``
        would write it (``git var``): an approver, or the author of a revert on the
        user's branch (the bot identity is for artifact branches)."""
        # git's own identity variables count (the store's git calls drop inherited
        # GIT_* variables; GIT_AUTHOR_* names the bot in the seed's configuration)
        who = {
            k: v for k in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL") if (v := os.environ.get(k))
        }
        res = self.repo.run(["var", "GIT_COMMITTER_IDENT"], check=False, env=who)
        ident = res.stdout.strip()
        if res.returncode or not ident:
            raise ArtifactStoreError(
                f"{purpose} needs your git identity: set it with "
                "'git config --global user.name \"Your Name\"' and "
                "'git config --global user.email you@example.com'"
            )
        return ident.encode()

    @property
    def scanner(self) -> Scanner:
        if self._scanner is None:
            from pytest_artifact_store.scan import Scanner, allowlist

            cfg = self.config
            allowed = (
                allowlist.load(cfg.repo_path / cfg.secret_allowlist)
                if cfg.secret_allowlist is not None
                else frozenset()
            )
            self._scanner = Scanner(
                cfg.secret_patterns,
                cfg.extra_secret_patterns,
                disabled_rules=cfg.disabled_secret_rules,
                allowlist=allowed,
            )
        return self._scanner

    def _write_nested(self, entries: Mapping[str, tuple[bytes, str]]) -> str:
        """Write the task directory's tree (and sub-trees for nested names)."""
        files: list[TreeEntry] = []
        subdirs: dict[str, dict[str, tuple[bytes, str]]] = {}
        for name, (mode, sha) in entries.items():
            head, sep, rest = name.partition("/")
            if sep:
                subdirs.setdefault(head, {})[rest] = (mode, sha)
            else:
                files.append(TreeEntry(mode, name.encode(), bytes.fromhex(sha)))
        for head, sub in subdirs.items():
            files.append(
                TreeEntry(MODE_TREE, head.encode(), bytes.fromhex(self._write_nested(sub)))
            )
        return self.repo.write_tree(files)

    def replace_path(self, commit: str | None, path: str, tree_sha: str) -> str:
        """Root tree of ``commit`` with the directory at ``path`` replaced by ``tree_sha``.

        Reads only the trees along ``path`` (one pipelined request), so the cost does
        not grow with the size of the repository's tree.
        """
        parts = path.split("/")
        levels: list[list[TreeEntry]] = [[] for _ in parts]
        if commit is not None:
            names = [f"{commit}^{{tree}}"] + [
                f"{commit}:{'/'.join(parts[:i])}" for i in range(1, len(parts))
            ]
            for i, found in enumerate(self.repo.read_many(names)):
                if found is None:
                    break
                if found[1] != "tree":
                    raise ArtifactStoreError(
                        f"cannot store artifacts under {path!r}: {'/'.join(parts[:i])!r} is a "
                        f"file in commit {commit[:12]}; choose another artifact_root"
                    )
                levels[i] = self.repo.parse_tree(found[2])
        sha = tree_sha
        for i in range(len(parts) - 1, -1, -1):
            name = parts[i].encode()
            kept = [e for e in levels[i] if e.name != name]
            kept.append(TreeEntry(MODE_TREE, name, bytes.fromhex(sha)))
            sha = self.repo.write_tree(kept)
        return sha
