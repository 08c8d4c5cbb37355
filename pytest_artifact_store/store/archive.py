"""Archive (SPEC §10 gc): task branches whose newest version is old move to
``refs/archive/<branch_prefix>/...`` in one ref transaction; tags and commits stay."""

from __future__ import annotations

from typing import Any

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.store.history import History
from pytest_artifact_store.timestamps import parse_utc, utc_now


class Archiving(History):
    """archive."""

    def archive(
        self, older_than_days: float, *, keep_last: int | None = None, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        """Move task branches whose newest version is older than ``older_than_days`` to
        ``refs/archive/<branch_prefix>/...`` (tags stay; the commits stay reachable).

        ``keep_last`` keeps the branches holding each workflow's newest N versions.
        Returns one ``{'branch', 'archive_ref', 'commit_sha', 'newest', 'age_days'}`` per
        branch moved (or that would move, with ``dry_run``), in one ref transaction.
        """
        if isinstance(older_than_days, bool) or not isinstance(older_than_days, int | float):
            raise ArtifactStoreError("older_than_days must be a number of days")
        if older_than_days < 0:
            raise ArtifactStoreError(f"older_than_days must be >= 0, got {older_than_days}")
        if keep_last is not None and (isinstance(keep_last, bool) or keep_last < 0):
            raise ArtifactStoreError(f"keep_last must be a non-negative integer, got {keep_last}")
        entries = self.list_artifacts(limit=None)
        now = utc_now()
        newest: dict[str, dict[str, Any]] = {}
        for entry in entries:  # newest first
            newest.setdefault(entry["branch"], entry)
        kept: set[str] = set()
        if keep_last:
            per_workflow: dict[str, int] = {}
            for entry in entries:
                count = per_workflow.get(entry["workflow_id"], 0)
                if count < keep_last:
                    kept.add(entry["branch"])
                    per_workflow[entry["workflow_id"]] = count + 1
        tips = self._branches(None, None, archived=False, tracking=False)
        moves: list[dict[str, Any]] = []
        for (workflow_id, task_id), tip in sorted(tips.items()):
            branch = self.branch_for(workflow_id, task_id)
            last = newest.get(branch)
            stamp = parse_utc(last.get("commit_timestamp")) if last else None
            if last is None or stamp is None or branch in kept:
                continue
            age = (now - stamp).total_seconds() / 86400
            if age < older_than_days:
                continue
            moves.append(
                {
                    "branch": branch,
                    "archive_ref": f"refs/archive/{branch}",
                    "commit_sha": tip.sha,
                    "newest": last.get("commit_timestamp"),
                    "age_days": round(age, 2),
                }
            )
        if moves and not dry_run:
            updates: list[tuple[str, str, str | None]] = []
            for move in moves:
                sha, archive_ref = str(move["commit_sha"]), str(move["archive_ref"])
                updates.append((f"refs/heads/{move['branch']}", self.repo.null_sha, sha))
                updates.append((archive_ref, sha, self.repo.resolve([archive_ref])[0]))
            error = self.repo.transaction(updates, "artifact-store: archive old task branches")
            if error is not None:
                raise ArtifactStoreError(f"archiving failed, nothing was moved: {error}")
        return moves
