"""What the remote layer needs of the store, as protocols (the store satisfies them;
this package never imports it), and the trailers of a join commit."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pytest_artifact_store.git import Commit, Repository

# A join commit (SPEC §6) names its task and the version its task directory holds; it
# carries no Workflow-Id/Task-Id trailers, so it is never taken for a version.
JOIN_TRAILER = "Artifact-Join"
JOIN_VERSION_TRAILER = "Artifact-Version"


class PushSettings(Protocol):
    """The configuration a push reads (``ArtifactStoreConfig`` has it)."""

    @property
    def auto_push(self) -> bool: ...
    @property
    def remote_name(self) -> str: ...
    @property
    def push_timeout(self) -> float: ...
    @property
    def branch_prefix(self) -> str: ...
    @property
    def sign_commits(self) -> bool: ...
    @property
    def require_approval(self) -> bool: ...


class VersionFacts(Protocol):
    """What a push needs of the store: its repository and settings, and what it knows of
    versions (which commits are versions or joins of a task, their tags and order)."""

    @property
    def repo(self) -> Repository: ...
    @property
    def config(self) -> PushSettings: ...
    def task_dir(self, task_id: str) -> str: ...
    def ident(self, ts: datetime) -> bytes: ...
    def replace_path(self, commit: str | None, path: str, tree_sha: str) -> str: ...
    def is_artifact_commit(self, commit: Commit, workflow_id: str, task_id: str) -> bool: ...
    def held_version(self, commit: Commit, workflow_id: str, task_id: str) -> str | None: ...
    def version_order(self, sha: str, task_id: str) -> tuple[str, str]: ...
    def tag_names(self, commit: Commit) -> list[str]: ...
    def approved_versions(self, workflow_id: str, task_id: str) -> set[str]: ...
    def approval_tags(self, workflow_id: str, task_id: str) -> dict[str, str]: ...


def task_ids(facts: VersionFacts, branch: str) -> tuple[str, str]:
    """(workflow_id, task_id) of a task branch name."""
    rest = branch.removeprefix(facts.config.branch_prefix + "/")
    workflow_id, _, task_id = rest.partition("/")
    return workflow_id, task_id
