"""``ArtifactStore``: the façade over committing, history, rollback and archive."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_artifact_store.store.approve import Approving
from pytest_artifact_store.store.archive import Archiving
from pytest_artifact_store.store.commit import Committing
from pytest_artifact_store.store.config import ArtifactStoreConfig, project_overrides
from pytest_artifact_store.store.publish import version_data
from pytest_artifact_store.store.revert import Reverting


class ArtifactStore(Committing, Reverting, Archiving, Approving):
    """Commit, find, roll back and push artifact versions in a git repository."""

    def _auto_push(self, result: dict[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Push after a commit (auto_push); the result gains ``pushed``/``push_error``
        and, when the remote kept a tag of its own, ``push_notes`` saying so. The events:
        ``artifact.committed`` for a new version, queued before the push (its ``pushed``
        brought up to date after it, unless a deliverer has it already), and
        ``artifact.pushed`` for a push; then they are sent."""
        created = result["created"] and self.config.event_sinks
        if created:
            self._committed_event(result, metadata, refresh=False)
        if not self.config.auto_push:  # the remote layer is not even imported
            result["pushed"], result["push_error"] = False, "auto_push is off"
        else:
            from pytest_artifact_store.remote.push import Pusher

            outcome = Pusher(self).after_commit(result["branch"], result["commit_sha"])
            result["pushed"], result["push_error"] = outcome.pushed, outcome.error
            if outcome.notes:
                result["push_notes"] = outcome.notes
        if created and result["pushed"]:
            self._committed_event(result, metadata, refresh=True)
        self.publish_queued(result)
        return result

    def _committed_event(
        self, result: dict[str, Any], metadata: Mapping[str, Any], *, refresh: bool
    ) -> None:
        sha = result["commit_sha"]
        data = version_data(result, metadata)
        subject = str(data["correlation_id"] or sha)
        event_id, branch = f"artifact.committed:{sha}", result["branch"]
        self.queue_event("artifact.committed", event_id, branch, subject, data, refresh=refresh)

    def fetch(
        self,
        workflow_id: str | None = None,
        task_id: str | None = None,
        *,
        remote: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Fetch one workflow's (or one task's, or every) task branch and its versions'
        tags from the remote (SPEC §6): what a runner of a big fleet needs, no more.
        Returns ``{'remote', 'branches', 'tags'}``."""
        from pytest_artifact_store import naming
        from pytest_artifact_store.remote import Pusher

        if workflow_id is not None:
            naming.check_id("workflow_id", workflow_id)
        if task_id is not None:
            naming.check_id("task_id", task_id)
        result = Pusher(self).fetch(remote, workflow_id, task_id, timeout)
        self.repo.maintain()  # a clone's first fetch: the commit-graph walks need
        return result

    def push_pending(
        self,
        remote: str | None = None,
        timeout: float | None = None,
        *,
        verify: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Push every artifact branch and tag the remote lacks (SPEC §6), found in
        O(pending) from the remote-tracking branches; ``verify`` asks the remote about
        every local task branch (restoring one deleted there); ``progress`` is told of
        each push as it starts.

        Returns ``{'success', 'remote', 'pushed': [branches], 'up_to_date': [branches],
        'errors': {branch: reason}}``.
        """
        from pytest_artifact_store.remote.push import Pusher

        self.check_sinks()
        result = Pusher(self, progress).push_pending(remote, timeout, verify=verify)
        self.publish_queued(result)
        return result


def open_store(repo_path: Path | str | None = None, **overrides: Any) -> ArtifactStore:
    """Shorthand used by the CLI and the hooks: a store on ``repo_path`` with config
    overrides, and the ``artifactstore.*`` settings of the repository's git config."""
    path = Path(repo_path) if repo_path else Path.cwd()
    cfg = ArtifactStoreConfig(repo_path=path, **{**project_overrides(path), **overrides})
    return ArtifactStore(cfg)
