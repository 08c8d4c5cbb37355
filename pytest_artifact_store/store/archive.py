"""Archive (SPEC §10 gc): task branches whose newest version is old move to
``refs/archive/<branch_prefix>/...`` in one ref transaction; tags and commits stay.
``fold_tags`` then folds the archived versions' tags into one index ref per workflow
(:mod:`.index`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.store import index
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

    def fold_tags(
        self,
        *,
        dry_run: bool = False,
        push: bool = False,
        remote: str | None = None,
        timeout: float | None = None,
        assume_archived: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Fold the ``corr_``/``prompt_`` tags of archived versions into one index ref per
        workflow (``refs/artifact-index/<branch_prefix>/<workflow_id>``), in one ref
        transaction with the tags' deletion: the versions stay reachable (the index
        commit's parents hold the archived tips) and are still found by correlation id
        and prompt hash. Returns ``{'tags': [folded names], 'workflows': {workflow:
        {'ref', 'commit', 'tags', 'tasks'}}}`` (``commit`` None with ``dry_run``).

        ``push``: the remote's index refs are read first (and merged into the local
        ones), then the indexes go to the remote with, in one atomic push, the deletion
        of the tags they hold and of the archived task branches (each leased on what
        the remote was seen to hold); ``result['push']`` says what changed there.
        ``assume_archived`` (with ``dry_run``): task branches to count as archived (the
        ones an archive dry run would move)."""
        pusher = None
        if push:
            from pytest_artifact_store.remote.push import Pusher

            remote = remote or self.config.remote_name  # the remote whose index is merged
            pusher = Pusher(self)
            pusher.fetch_indexes(remote, timeout)
        result = self._fold(dry_run, remote if push else None, assume_archived)
        if pusher is not None and not dry_run:
            result["push"] = pusher.push_fold(remote, timeout, *self._index_contents())
        return result

    def _local_indexes(self) -> set[str]:
        """Workflows with a local index ref (the fetched copies do not count: their
        folds still have to reach this clone's index)."""
        space = f"{index.SPACE}/{self.config.branch_prefix}/"
        return {r.removeprefix(space) for r in self.repo.for_each_ref([space], "%(refname)")}

    def _index_contents(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """({index ref: commit}, {folded tag: version commit}, {archived branch: tip})
        of every local index."""
        prefix = self.config.branch_prefix
        refs: dict[str, str] = {}
        names: dict[str, str] = {}
        tasks: dict[str, str] = {}
        for line in self.repo.for_each_ref(
            [f"{index.SPACE}/{prefix}/"], "%(objectname) %(refname)"
        ):
            sha, ref = line.split(" ", 1)
            refs[ref] = sha
            workflow_id = ref.removeprefix(f"{index.SPACE}/{prefix}/")
            for path, raw in index.read_entries(self.repo, ref).items():
                kind, _, name = path.partition("/")
                if kind == "tags":
                    names[name.rpartition("/")[2]] = raw.hex()
                elif kind == "tasks":
                    tasks[self.branch_for(workflow_id, name)] = raw.hex()
        return refs, names, tasks

    def _fold(
        self, dry_run: bool, remote: str | None, assume_archived: Sequence[str] = ()
    ) -> dict[str, Any]:
        tips = {
            key: tip
            for key, tip in self._branches(None, None, archived=True, tracking=False).items()
            if (tip.archived and tip.ref.startswith("refs/archive/"))
            or (dry_run and self.branch_for(*key) in assume_archived)
        }
        folded_before = self._indexed_tasks(None, None)
        local = self._local_indexes()
        tips = {  # an archived tip this clone's index holds was folded by an earlier run
            key: tip
            for key, tip in tips.items()
            if folded_before.get(key, ("", ""))[1] != tip.sha or key[0] not in local
        }
        by_workflow: dict[str, dict[str, bytes]] = {}
        archived_tips: dict[str, set[str]] = {}
        for (workflow_id, task_id), tip in tips.items():
            by_workflow.setdefault(workflow_id, {})[index.task_path(task_id)] = bytes.fromhex(
                tip.sha
            )
            archived_tips.setdefault(workflow_id, set()).add(tip.sha)
        names: list[tuple[str, str, str]] = []  # (tag, version commit, workflow)
        for version in self._versions(tips):
            for name in self.tag_names(version.commit):
                names.append((name, version.commit.sha, version.workflow_id))
        objects = self.repo.resolve([f"refs/tags/{n}" for n, _, _ in names])
        peeled = self.repo.resolve([f"refs/tags/{n}^{{commit}}" for n, _, _ in names])
        folded: list[tuple[str, str]] = []  # (tag, its object id)
        counts: dict[str, int] = {}
        for (name, sha, workflow_id), obj, target in zip(names, objects, peeled, strict=True):
            if obj and target == sha:  # a tag this version holds (not another's name)
                by_workflow[workflow_id][index.tag_path(name)] = bytes.fromhex(sha)
                folded.append((name, obj))
                counts[workflow_id] = counts.get(workflow_id, 0) + 1
        result: dict[str, Any] = {"tags": sorted(n for n, _ in folded), "workflows": {}}
        with self.repo.packing():  # one pack, kept from gc until the refs point at it
            self._write_indexes(result, by_workflow, archived_tips, counts, folded, dry_run, remote)
        return result

    def _write_indexes(
        self,
        result: dict[str, Any],
        by_workflow: dict[str, dict[str, bytes]],
        archived_tips: dict[str, set[str]],
        counts: dict[str, int],
        folded: list[tuple[str, str]],
        dry_run: bool,
        remote: str | None,
    ) -> None:
        updates: list[tuple[str, str, str | None]] = []
        prefix = self.config.branch_prefix
        theirs: dict[str, str] = {}  # the remote's index per workflow, when fetched
        if remote is not None:
            space = naming.index_tracking(remote, prefix)
            for line in self.repo.for_each_ref([space], "%(objectname) %(refname)"):
                sha, ref = line.split(" ", 1)
                theirs[ref.removeprefix(space)] = sha
                by_workflow.setdefault(ref.removeprefix(space), {})
        for workflow_id, entries in sorted(by_workflow.items()):
            ref = index.index_ref(prefix, workflow_id)
            summary = {
                "ref": ref,
                "commit": None,
                "tags": counts.get(workflow_id, 0),
                "tasks": sum(p.startswith("tasks/") for p in entries),
            }
            result["workflows"][workflow_id] = summary
            if dry_run:
                continue
            old = self.repo.resolve([ref + "^{commit}"])[0]
            parents = [old] if old else []
            known = index.read_entries(self.repo, ref) if old else {}
            other = theirs.get(workflow_id)
            if other and other != old and not (old and self.repo.is_ancestor(other, old)):
                # the remote's index has folds of other machines: merge them in
                if old and self.repo.is_ancestor(old, other):
                    parents = [other]
                else:
                    parents.append(other)
                known = {**index.read_entries(self.repo, other), **known}
            merged = {**known, **entries}
            if parents == [old] and merged == known:
                summary["commit"] = old
                continue  # nothing new for this workflow
            if other and parents == [other] and merged == index.read_entries(self.repo, other):
                summary["commit"] = other  # the remote's index has it all: take it as is
                updates.append((ref, other, old))
                continue
            commit = index.write_index(
                self.repo,
                merged,
                parents,
                archived_tips.get(workflow_id, set()),
                self.ident(utc_now()),
                f"artifact-store: index of {workflow_id}'s archived versions",
            )
            summary["commit"] = commit
            updates.append((ref, commit, old))
        if dry_run or (not updates and not folded):
            return
        updates += [(f"refs/tags/{name}", self.repo.null_sha, obj) for name, obj in folded]
        self.repo.flush()
        error = self.repo.transaction(updates, "artifact-store: fold tags of archived versions")
        if error is not None:
            raise ArtifactStoreError(f"folding tags failed, nothing was changed: {error}")
