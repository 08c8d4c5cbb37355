"""Rollback (SPEC §5): one new commit on the target branch restoring a task directory to
a recent version; the checked-out work tree follows only when that directory is clean."""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import (
    Commit,
)
from pytest_artifact_store.store import approvals
from pytest_artifact_store.store.base import MAX_ATTEMPTS
from pytest_artifact_store.store.history import History, task_of
from pytest_artifact_store.timestamps import utc_now


class Reverting(History):
    """revert_to_tag."""

    def revert_to_tag(self, tag: str, target_branch: str | None = None) -> dict[str, Any]:
        """One commit on ``target_branch`` (default: the repository's default branch)
        restoring the task directory to the version ``tag`` names (SPEC §5); when the
        branch already holds exactly that directory, nothing is written and the result
        says ``changed: False``."""
        if not isinstance(tag, str) or not tag or "\n" in tag:
            raise ArtifactStoreError(f"invalid tag {tag!r}")
        name = tag
        commit = self.repo.read_commit(f"refs/tags/{tag}")
        if commit is None:
            # "abc" means corr_abc; "corr_corr_abc" is what f"corr_{correlation_id}"
            # gives for an id that already had the prefix (as in the design document).
            bare = tag.removeprefix(naming.CORR_PREFIX * 2)
            with contextlib.suppress(ArtifactStoreError):
                name = naming.correlation_tag(bare if bare != tag else tag)
                commit = self.repo.read_commit(f"refs/tags/{name}")
            if commit is None:
                name = tag
        staged = approvals.parse_stage_ref(tag) if commit is None else None
        holder = self.stage_holder(*staged) if staged else None
        if holder is not None:  # <workflow>/<task>@<stage>: the version holding it
            commit = self.repo.read_commit(holder)
            name = (commit.trailers.get("Correlation-Id") if commit else None) or tag
        if commit is None:  # a folded tag (gc --fold-tags): the indexes know it
            corr = None
            with contextlib.suppress(ArtifactStoreError):
                corr = naming.correlation_tag(tag.removeprefix(naming.CORR_PREFIX * 2))
            found = self.folded_commit(tag, *([corr] if corr else []))
            if found is not None:
                name, commit = found
        if commit is None:
            tried = [tag] if tag.startswith(naming.CORR_PREFIX) else [tag, naming.CORR_PREFIX + tag]
            raise ArtifactStoreError(
                f"unknown tag {tag!r}: no tag {' or '.join(tried)} in this repository (see "
                "'artifact-store list'; a stage is named <workflow>/<task>@<stage>)"
            )
        ids = task_of(commit)
        if ids is None:
            raise ArtifactStoreError(f"tag {name!r} does not point at an artifact commit")
        workflow_id, task_id = ids
        if target_branch is None:
            target_branch = self.default_branch()
        naming.check_ref_prefix("target_branch", target_branch)
        self._check_rollback_depth(name, commit, workflow_id, task_id)
        task_dir = self.task_dir(task_id)
        subtree = self.repo.resolve([f"{commit.sha}:{task_dir}"])[0]
        if subtree is None:
            raise ArtifactStoreError(f"tag {name!r}: its commit has no {task_dir!r} directory")
        target_ref = f"refs/heads/{target_branch}"
        worktrees = self.repo.worktrees_on(target_ref)
        for wt in worktrees:
            dirty = self.repo.run(
                ["status", "--porcelain", "--untracked-files=all", "--", task_dir], cwd=wt
            ).stdout
            if dirty.strip():
                raise ArtifactStoreError(
                    f"{target_branch} is checked out in {wt} and {task_dir}/ has uncommitted "
                    "changes there; commit or stash them, then revert again (nothing was changed)"
                )
        for attempt in range(MAX_ATTEMPTS):
            tip = self.repo.resolve([target_ref])[0]
            if tip is None:
                raise ArtifactStoreError(
                    f"target branch {target_branch!r} does not exist; create it first"
                )
            if self.repo.resolve([f"{tip}:{task_dir}"])[0] == subtree:
                return {
                    "success": True,
                    "commit_sha": tip,
                    "reverted_to": name,
                    "branch": target_branch,
                    "changed": False,
                }
            message = (
                f"revert({workflow_id}/{task_id}): restore {name}\n\n"
                f"Restores {task_dir}/ to artifact commit {commit.sha}.\n\n"
                f"Reverted-To: {name}\nReverted-Commit: {commit.sha}\n"
            ).encode()
            with self.repo.packing():  # packed and kept until the ref moves, as a version
                # the user's branch: the user's commit (the bot's where git knows no user)
                try:
                    ident = self.user_ident("revert")
                except ArtifactStoreError:
                    ident = self.ident(utc_now())
                root = self.replace_path(tip, task_dir, subtree)
                new = self.repo.write_commit(
                    root, [tip], ident, ident, message, sign=self.config.sign_commits
                )
                self.repo.flush()
                error = self.repo.transaction(
                    [(target_ref, new, tip)], f"artifact-store: revert to {name}"
                )
            if error is None:
                break
            if self.repo.resolve([target_ref])[0] == tip:
                raise ArtifactStoreError(f"git refused to update {target_ref}: {error}")
            time.sleep(random.uniform(0, min(0.25, 0.005 * 2 ** min(attempt, 6))))
        else:
            raise ArtifactStoreError(f"gave up updating {target_ref}: it kept moving")
        for wt in worktrees:
            self.repo.run(
                ["restore", f"--source={new}", "--staged", "--worktree", "--", task_dir], cwd=wt
            )
        return {
            "success": True,
            "commit_sha": new,
            "reverted_to": name,
            "branch": target_branch,
            "changed": True,
        }

    def default_branch(self) -> str:
        """The repository's default branch: the remote's HEAD (a clone's), else a local
        ``main`` or ``master``, else the branch checked out here."""
        remote = self.config.remote_name
        res = self.repo.run(
            ["symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD"], check=False
        )
        if not res.returncode and res.stdout.strip().startswith(f"{remote}/"):
            name = res.stdout.strip().removeprefix(f"{remote}/")
            if self.repo.resolve([f"refs/heads/{name}"])[0]:
                return name
        for name in ("main", "master"):
            if self.repo.resolve([f"refs/heads/{name}"])[0]:
                return name
        head = self.repo.run(["symbolic-ref", "--quiet", "--short", "HEAD"], check=False)
        if not head.returncode and head.stdout.strip():
            return head.stdout.strip()
        raise ArtifactStoreError(
            "no default branch to revert on (no main, master or checked-out branch): "
            "name one with target_branch / --target"
        )

    def _check_rollback_depth(
        self, name: str, commit: Commit, workflow_id: str, task_id: str
    ) -> None:
        depth = self.config.max_rollback_depth
        tips = self._branches(workflow_id, task_id, archived=True)
        recent = []
        for version in self._versions(tips):
            recent.append(version.commit.sha)
            if len(recent) >= depth:
                break
        if commit.sha not in recent:
            raise ArtifactStoreError(
                f"{name} is not among the last {depth} versions of "
                f"{self.branch_for(workflow_id, task_id)} (max_rollback_depth={depth}); "
                "raise max_rollback_depth to go further back (artifact-store revert "
                "--max-rollback-depth N)"
            )
