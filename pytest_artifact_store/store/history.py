"""History: the versions on task branches (local, archived and the remote's copies),
walked newest first through join commits; listing, lookups and the entries of SPEC §2."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import (
    Commit,
    LastBuilt,
    blob_json,
)
from pytest_artifact_store.remote.facts import JOIN_TRAILER, JOIN_VERSION_TRAILER
from pytest_artifact_store.store import approvals, index
from pytest_artifact_store.store.base import TIMESTAMP_TRAILER, TRAILERS
from pytest_artifact_store.store.publish import Publishing
from pytest_artifact_store.timestamps import parse_utc

_TAG_LOOKUPS = 64  # a lookup's metadata and tags go to git in one round trip up to this
# More tag names than this: one for-each-ref pass over every tag beats a pipelined lookup
# of each. Below it, a listing's cost follows the versions listed, not the tags a fleet's
# remote has accumulated (a list(limit=50) reads ~100 names whatever the repository holds).
_TAG_SCAN = 4096


_PASS_THROUGH = 8  # non-version commits in a row that listing walks through on a branch


@dataclass
class Version:
    """An artifact commit and the task it belongs to."""

    commit: Commit
    workflow_id: str
    task_id: str
    archived: bool = False


# the task-branch table built from each ref list (Repository.refs_under gives back the
# same list while the ref files say the same)
_TABLES = LastBuilt()


@dataclass(slots=True)
class Tip:
    """A task branch's tip (and the remote's, when they differ)."""

    ref: str
    sha: str
    archived: bool = False
    also: list[str] = field(default_factory=list)  # the remote-tracking tip, when it differs


class History(Publishing):
    """Reading versions back: walk, list, look up."""

    def _branches(
        self, workflow_id: str | None, task_id: str | None, archived: bool, tracking: bool = True
    ) -> dict[tuple[str, str], Tip]:
        """Task branches (and, with ``archived``, archived ones) by (workflow, task).

        With ``tracking``, the remote's copies (``refs/remotes/<remote>/<prefix>/...``)
        count too: a task only the remote has is listed, and versions fetched from
        other machines are walked beside the local ones. A task archived here stays
        archived whatever its remote-tracking branch says.
        """
        prefix = self.config.branch_prefix
        remote_space = f"refs/remotes/{self.config.remote_name}/"
        spaces = ["refs/heads/", "refs/archive/"] + ([remote_space] if tracking else [])
        patterns = [
            f"{space}{prefix}/{workflow_id}/" if workflow_id else f"{space}{prefix}/"
            for space in spaces
        ]
        refs = self.repo.refs_under(patterns)
        shape = (prefix, remote_space, task_id, archived, tracking)
        where = (str(self.repo.common_dir), *shape)
        table = _TABLES.get(where, (refs, *shape), lambda stamp: _tip_table(*stamp))
        found = dict(table)  # (the table itself is shared)
        if archived:  # tasks archived and folded elsewhere: the indexes keep their tips
            for key, (ref, sha) in self._indexed_tasks(workflow_id, task_id).items():
                if key not in found:
                    found[key] = Tip(ref, sha, True)
        return found

    def _indexed_tasks(
        self, workflow_id: str | None, task_id: str | None
    ) -> dict[tuple[str, str], tuple[str, str]]:
        """{(workflow, task): (index ref, archived tip)} from the local and fetched indexes."""
        prefix = self.config.branch_prefix
        refs = index.index_refs(self.repo, prefix, self.config.remote_name)
        workflows = [r.rsplit("/", 1)[1] for r in refs]
        keep = [
            (ref, wf) for ref, wf in zip(refs, workflows, strict=True) if wf == (workflow_id or wf)
        ]
        out: dict[tuple[str, str], tuple[str, str]] = {}
        trees = self.repo.read_trees([f"{ref}:tasks" for ref, _ in keep])
        for (ref, wf), entries in zip(keep, trees, strict=True):
            for e in entries or []:
                name = e.name.decode("utf-8", "replace")
                if task_id is None or name == task_id:
                    out.setdefault((wf, name), (ref, e.sha.hex()))
        return out

    def _versions(
        self,
        tips: Mapping[tuple[str, str], Tip],
        cached: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> Iterator[Version]:
        """Artifact commits of the given task branches, newest first, stopping at bases
        (walked from the repository's cache, already loaded as ``cached``, if given).

        Join commits (SPEC §6) are walked through on every parent. A branch may hold
        commits that are not versions (someone committed on it by hand): the walk
        passes through up to _PASS_THROUGH of them in a row, along first parents,
        before it takes the last version it saw as the start of the branch.
        """
        wanted = {tip.sha for tip in tips.values()}
        wanted.update(*(tip.also for tip in tips.values() if tip.also))
        budget = dict.fromkeys(wanted, _PASS_THROUGH)
        seen: set[str] = set()
        walk = self.repo.walk if cached is None else partial(self.repo.walk_cached, cached=cached)
        for commit in walk(sorted(wanted)):
            seen.add(commit.sha)
            wanted.discard(commit.sha)
            key = (commit.trailers.get("Workflow-Id", ""), commit.trailers.get("Task-Id", ""))
            tip = tips.get(key)
            if tip is not None:
                yield Version(commit, key[0], key[1], tip.archived)
            follow = (
                commit.parents
                if tip is not None or _join_key(commit) in tips
                else commit.parents[:1]
                if budget.get(commit.sha, 0) > 0
                else []
            )
            for parent in follow:
                if parent not in seen:
                    wanted.add(parent)
                    left = (
                        _PASS_THROUGH
                        if tip is not None or len(follow) > 1
                        else budget[commit.sha] - 1
                    )
                    budget[parent] = max(budget.get(parent, 0), left)
            if not wanted:
                return

    def is_artifact_commit(self, commit: Commit, workflow_id: str, task_id: str) -> bool:
        """Whether ``commit`` is a version or a join commit of this task."""
        ids = (commit.trailers.get("Workflow-Id"), commit.trailers.get("Task-Id"))
        return ids == (workflow_id, task_id) or _join_key(commit) == (workflow_id, task_id)

    def held_version(self, commit: Commit, workflow_id: str, task_id: str) -> str | None:
        """The version whose task directory ``commit`` holds: itself for a version, the
        one a join commit names, None for anything else."""
        if (commit.trailers.get("Workflow-Id"), commit.trailers.get("Task-Id")) == (
            workflow_id,
            task_id,
        ):
            return commit.sha
        if _join_key(commit) == (workflow_id, task_id):
            return commit.trailers.get(JOIN_VERSION_TRAILER) or None
        return None

    def version_order(self, sha: str, task_id: str) -> tuple[str, str]:
        """(commit_timestamp, commit id) of a version: joins keep the greatest (SPEC §6)."""
        meta = self.repo.read_json_many(
            [f"{sha}:{self.task_dir(task_id)}/{self.config.metadata_filename}"]
        )[0]
        if meta is None:
            commit = self.repo.read_commit(sha)
            if commit is None:
                return ("", sha)
            meta = self._from_trailers(Version(commit, "", task_id))
        return (sort_key(meta), sha)

    def tag_names(self, commit: Commit) -> list[str]:
        """The store tags a version may carry, as its trailers name them."""
        return _tag_names(commit)

    def list_artifacts(
        self,
        workflow_id: str | None = None,
        limit: int | None = 50,
        *,
        task_id: str | None = None,
        prompt_hash: str | None = None,
        archived: bool = False,
    ) -> list[dict[str, Any]]:
        if workflow_id is not None:
            naming.check_id("workflow_id", workflow_id)
        if task_id is not None:
            naming.check_id("task_id", task_id)
        phash = None if prompt_hash is None else naming.prompt_hash(prompt_hash)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ArtifactStoreError(f"limit must be a non-negative integer or None, got {limit!r}")
        if limit == 0:
            return []
        tips = self._branches(workflow_id, task_id, archived)
        if limit is not None:
            if phash is None and len(tips) > limit:
                every = workflow_id is None and task_id is None and not archived
                return self._list_newest(tips, limit, every)
            return self._list(tips, limit, phash)
        everything = workflow_id is None and task_id is None and phash is None
        with _gc_paused():  # ~10k small dicts: the cyclic GC would rescan them many times
            return self._list(tips, limit, phash, everything)

    def _list(
        self,
        tips: Mapping[tuple[str, str], Tip],
        limit: int | None,
        phash: str | None,
        everything: bool = False,
    ) -> list[dict[str, Any]]:
        # Listing everything: the tags are listed while the repository's cache is
        # loaded; history is walked and metadata read from it, and only what it lacks
        # from git (with a filter, the cache is loaded for the metadata if enough
        # versions matched).
        tags: dict[str, str] = {}
        lister = threading.Thread(target=lambda: tags.update(self._tag_targets(None)))
        if limit is None:
            lister.start()
        cache = self.repo.cache() if everything else None
        cached = cache.load() if cache is not None else None
        picked, metadata = self._pick(tips, limit, phash, cached)
        targets = None
        if limit is None:
            lister.join()
            targets = tags
        entries = self._entries(picked, metadata, targets)
        entries.sort(key=sort_key, reverse=True)
        return entries if limit is None else entries[:limit]

    def _pick(
        self,
        tips: Mapping[tuple[str, str], Tip],
        limit: int | None,
        phash: str | None,
        cached: Mapping[str, dict[str, Any] | None] | None = None,
        *,
        read: bool = True,
    ) -> tuple[list[Version], list[dict[str, Any] | None]]:
        """The versions a listing takes, in walk order (every one at least as new as
        the ``limit``-th, ties included), and (``read``) their metadata."""
        picked: list[Version] = []
        metadata: list[dict[str, Any] | None] = []
        for version in self._versions(tips, cached):
            if phash and version.commit.trailers.get("Prompt-Hash") != phash:
                continue
            if (
                limit is not None
                and len(picked) >= limit
                and version.commit.commit_time < picked[limit - 1].commit.commit_time
            ):
                break
            picked.append(version)
            if cached is not None and len(picked) - len(metadata) >= 512:
                # a cold cache: git reads these while `git log` walks on
                metadata += self._read_metadata(picked[len(metadata) :], cached)
        if read:
            metadata += self._read_metadata(picked[len(metadata) :], cached)
        return picked, metadata

    def _list_newest(
        self, tips: Mapping[tuple[str, str], Tip], limit: int, every: bool
    ) -> list[dict[str, Any]]:
        """list(limit=N) over many task branches: the walk starts from the branches whose
        tips are among the N newest (a branch's versions are no newer than its tip, as
        the walk by commit date itself assumes), not from every tip -- ``git log`` costs
        ~1.5 us a tip before it shows a commit, and a fleet's clone has thousands. The
        tips' times come from a memo (:meth:`Repository.commit_times`). The walk is
        exact when no branch left out has a tip as new as the N-th version taken;
        otherwise (a newest tip that is a join of older versions, say) it walks again
        from every tip at least that new. ``every``: these are all the task branches."""
        heads = [tip.sha for tip in tips.values()]
        heads += [sha for tip in tips.values() if tip.also for sha in tip.also]
        times = self.repo.commit_times(heads, every=every)
        unknown = 1 << 62  # a tip whose time is not known is always walked
        newest = {
            key: (
                max(times.get(sha, unknown) for sha in (tip.sha, *tip.also))
                if tip.also
                else times.get(tip.sha, unknown)
            )
            for key, tip in tips.items()
        }
        cutoff = sorted(newest.values(), reverse=True)[limit - 1]
        chosen = {key: tip for key, tip in tips.items() if newest[key] >= cutoff}
        picked, _ = self._pick(chosen, limit, None, read=False)
        left = [when for key, when in newest.items() if key not in chosen]
        floor = picked[limit - 1].commit.commit_time if len(picked) >= limit else None
        if left and (floor is None or max(left) >= floor):
            chosen = {
                key: tip for key, tip in tips.items() if floor is None or newest[key] >= floor
            }
            picked, _ = self._pick(chosen, limit, None, read=False)
        entries = self._entries(picked, self._read_metadata(picked))
        entries.sort(key=sort_key, reverse=True)
        return entries[:limit]

    def get_artifact_by_correlation_id(self, correlation_id: str) -> dict[str, Any] | None:
        try:
            tag = naming.correlation_tag(correlation_id)
        except ArtifactStoreError:
            return None
        commit = self.repo.read_commit(f"refs/tags/{tag}")
        if commit is None:  # a folded tag (gc --fold-tags): the indexes know it
            return self._folded_version(tag)
        ids = task_of(commit)
        if ids is None:
            return None
        workflow_id, task_id = ids
        # the tag was just resolved to this commit: no second lookup of it
        return self._entries([Version(commit, workflow_id, task_id)], known={tag: commit.sha})[0]

    def folded_commit(self, *names: str) -> tuple[str, Commit] | None:
        """(name, version commit) for the first of ``names`` an index holds: a tag folded
        by ``gc --fold-tags`` (here, or on the remote and fetched); None if none does."""
        refs = index.index_refs(self.repo, self.config.branch_prefix, self.config.remote_name)
        targets = index.folded_targets(self.repo, refs, list(names))
        for name in names:
            commit = self.repo.read_commit(targets[name]) if name in targets else None
            if commit is not None and task_of(commit) is not None:
                return name, commit
        return None

    def _folded_version(self, *names: str) -> dict[str, Any] | None:
        """The entry of the version an index maps one of ``names`` to (an archived
        version whose tag was folded), or None."""
        found = self.folded_commit(*names)
        if found is None:
            return None
        commit = found[1]
        ids = task_of(commit)
        assert ids is not None
        entry = self._entries([Version(commit, *ids, archived=True)])[0]
        refs = index.index_refs(self.repo, self.config.branch_prefix, self.config.remote_name)
        own = index.folded_targets(self.repo, refs, _tag_names(commit))
        entry["folded_tags"] = [n for n, sha in own.items() if sha == commit.sha]
        return entry

    def find_version(self, ref: str) -> dict[str, Any] | None:
        """The artifact version a user names: a correlation id (with or without
        ``corr_``), a tag, a task branch (full, or ``<workflow>/<task>``), or a commit.
        None if it names nothing, or a commit that is not an artifact version."""
        if not isinstance(ref, str) or not ref or any(c in ref for c in "\n\0"):
            return None
        staged = approvals.parse_stage_ref(ref)
        if staged is not None and not self.repo.resolve([f"refs/tags/{ref}"])[0]:
            holder = self.stage_holder(*staged)
            if holder is None:
                return None
            ref = holder
        prefix = self.config.branch_prefix
        remote = f"refs/remotes/{self.config.remote_name}"
        candidates = [
            f"refs/tags/{ref}",
            f"refs/tags/{naming.CORR_PREFIX}{ref}",
            f"refs/heads/{ref}",
            f"refs/heads/{prefix}/{ref}",
            f"refs/archive/{ref}",
            f"refs/archive/{prefix}/{ref}",
            f"{remote}/{ref}",
            f"{remote}/{prefix}/{ref}",
            ref,
        ]
        if "@{" in ref:  # reflog and upstream syntax: git rev-parse, which may say no
            res = self.repo.run(
                ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
                check=False,
            )
            found: list[str | None] = [res.stdout.strip() or None] if not res.returncode else []
        else:
            found = self.repo.resolve([f"{c}^{{commit}}" for c in candidates])
        for sha in found:
            if sha is None:
                continue
            commit = self.repo.read_commit(sha)
            if commit is None:
                continue
            ids = task_of(commit)
            if ids is not None:
                workflow_id, task_id = ids
                branch_ref = f"refs/heads/{self.branch_for(workflow_id, task_id)}"
                archived = not self.repo.is_ancestor(
                    commit.sha, branch_ref
                ) and self.repo.is_ancestor(
                    commit.sha, f"refs/archive/{self.branch_for(workflow_id, task_id)}"
                )
                return self._entry(Version(commit, workflow_id, task_id, archived))
        if "/" not in ref and naming.ID_CHARS.fullmatch(ref):
            return self._folded_version(ref, naming.CORR_PREFIX + ref)
        return None

    def task_named(self, ref: str) -> tuple[str, str] | None:
        """(workflow, task) of a task ref: ``wf/task``, its branch, or ``refs/heads/…``."""
        name = ref.removeprefix("refs/heads/").removeprefix(self.config.branch_prefix + "/")
        workflow_id, _, task_id = name.partition("/")
        try:
            return naming.check_id("workflow_id", workflow_id), naming.check_id("task_id", task_id)
        except ArtifactStoreError:
            return None

    def stage_holder(self, task_ref: str, stage: str) -> str | None:
        """The commit of the version holding ``stage`` of the task ``task_ref`` names."""
        ids = self.task_named(task_ref)
        if ids is None:
            return None
        records = approvals.read_approvals(self.repo, *ids)
        held = approvals.holders(records, self.config.required_approvals).get((*ids, stage))
        return held.commit_sha if held else None

    def approved_versions(self, workflow_id: str, task_id: str) -> set[str]:
        """The task's versions with ``required_approvals`` distinct approvers."""
        records = approvals.read_approvals(self.repo, workflow_id, task_id)
        return approvals.approved(records, self.config.required_approvals)

    def approval_tags(self, workflow_id: str, task_id: str) -> dict[str, str]:
        """{approval tag: the version it approves} of one task."""
        return {
            a.tag: a.commit_sha for a in approvals.read_approvals(self.repo, workflow_id, task_id)
        }

    def version_files(self, entry: Mapping[str, Any]) -> dict[str, int]:
        """{repo path: size in bytes} of every file in a version's task directory."""
        task_dir = self.task_dir(str(entry["task_id"]))
        out = self.repo.run(
            ["ls-tree", "-r", "-l", "-z", str(entry["commit_sha"]), "--", task_dir + "/"]
        ).stdout
        sizes = {}
        for record in out.split("\0"):
            if record:
                info, _, path = record.partition("\t")
                sizes[path] = int(info.split()[3])
        return sizes

    def read_version_file(self, entry: Mapping[str, Any], name: str) -> bytes | None:
        """Bytes of ``name`` (a path inside the version's task directory), or None."""
        path = f"{self.task_dir(str(entry['task_id']))}/{name}"
        found = self.repo.read_many([f"{entry['commit_sha']}:{path}"])[0]
        return found[2] if found and found[1] == "blob" else None

    def push_state(self, entry: Mapping[str, Any], remote: str | None = None) -> bool | None:
        """True if the last fetch/push saw the version on the remote, False if not,
        None if there is no such remote (no network is used)."""
        remote = remote or self.config.remote_name
        if not self.repo.remote_exists(remote):
            return None
        tracking = f"refs/remotes/{remote}/{entry['branch']}"
        if self.repo.resolve([tracking])[0] is None:
            return False
        return self.repo.is_ancestor(str(entry["commit_sha"]), tracking)

    def _entry(self, version: Version) -> dict[str, Any]:
        return self._entries([version])[0]

    def _read_metadata(
        self,
        versions: list[Version],
        cached: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> list[dict[str, Any] | None]:
        return self.repo.read_json_many(self._metadata_names(versions), cached)

    def _metadata_names(self, versions: list[Version], by_tree: bool = False) -> list[str]:
        """``<commit>:<task dir>/metadata.json`` per version (the listing cache's names);
        ``by_tree``: ``<tree>:...`` where the commit was read whole, which spares git
        reading the commit object again."""
        meta = self.config.metadata_filename
        return [
            f"{(by_tree and v.commit.tree) or v.commit.sha}:{self.task_dir(v.task_id)}/{meta}"
            for v in versions
        ]

    def _entries(
        self,
        versions: list[Version],
        metadata: list[dict[str, Any] | None] | None = None,
        targets: dict[str, str] | None = None,
        known: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """List entries: each version's metadata.json (or its trailers) + branch, sha, tags.

        ``known``: tag targets the caller has just resolved (they are not looked up)."""
        known = known or {}
        tags = sorted({t for v in versions for t in _tag_names(v.commit)} - set(known))
        few = len(versions) <= _TAG_LOOKUPS and len(tags) <= _TAG_LOOKUPS
        if metadata is None and targets is None and few:
            # a few versions (a lookup): metadata and tags in one cat-file round trip
            names = self._metadata_names(versions, by_tree=True)
            found = self.repo.read_many(names + [_peeled_tag(t) for t in tags])
            metadata = [blob_json(f) for f in found[: len(names)]]
            targets = {t: f[0] for t, f in zip(tags, found[len(names) :], strict=True) if f}
        if metadata is None:
            metadata = self._read_metadata(versions)
        if targets is None:
            targets = self._tag_targets(tags)
        if known:
            targets = {**targets, **known}
        entries = []
        for v, meta in zip(versions, metadata, strict=True):
            entry = meta if meta is not None else self._from_trailers(v)
            entry["branch"] = self.branch_for(v.workflow_id, v.task_id)
            entry["commit_sha"] = v.commit.sha
            entry["tags"] = [
                t for t in _tag_names(v.commit) if targets.get(t, "-") in ("", v.commit.sha)
            ]
            if v.archived:
                entry["archived"] = True
            entries.append(entry)
        return entries

    def _tag_targets(self, names: list[str] | None) -> dict[str, str]:
        """{tag: the commit it points at ("" = exists)} for the given store tags
        (None: all of them)."""
        if names is not None and len(names) <= _TAG_SCAN:
            shas = self.repo.resolve([_peeled_tag(n) for n in names])
            return {n: sha for n, sha in zip(names, shas, strict=True) if sha}
        # Many versions: one for-each-ref (one pass over the tags) beats a lookup per
        # tag. A corr_ tag names exactly one version (the store refuses to reuse it),
        # so its existence is enough and costs no tag-object reads; prompt_ tags are
        # few and are then peeled, since every later version of the same prompt
        # carries the same trailer.
        out: dict[str, str] = {}
        prompts = []
        for name in self.repo.for_each_ref(
            [f"refs/tags/{naming.CORR_PREFIX}*", f"refs/tags/{naming.PROMPT_PREFIX}*"],
            "%(refname:lstrip=2)",
        ):
            if name.startswith(naming.CORR_PREFIX):
                out[name] = ""
            else:
                prompts.append(name)
        peeled = self.repo.resolve([_peeled_tag(name) for name in prompts])
        out.update((name, sha) for name, sha in zip(prompts, peeled, strict=True) if sha)
        return out

    def _from_trailers(self, v: Version) -> dict[str, Any]:
        t = v.commit.trailers
        entry: dict[str, Any] = {key: t.get(name) for name, key in TRAILERS}
        entry["workflow_id"], entry["task_id"] = v.workflow_id, v.task_id
        stamp = t.get(TIMESTAMP_TRAILER)
        if parse_utc(stamp) is None:  # an older commit: whole seconds from git
            stamp = datetime.fromtimestamp(v.commit.commit_time, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        entry["commit_timestamp"] = stamp
        return entry


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _peeled_tag(name: str) -> str:
    return f"refs/tags/{name}^{{commit}}"


def task_of(commit: Commit) -> tuple[str, str] | None:
    """(workflow_id, task_id) a version's trailers name, checked like ids given to the
    API (a hand-made commit may say ``Task-Id: ../../etc``); None for anything else."""
    workflow_id = commit.trailers.get("Workflow-Id")
    task_id = commit.trailers.get("Task-Id")
    if not workflow_id or not task_id:
        return None
    try:
        naming.check_id("workflow_id", workflow_id)
        naming.check_id("task_id", task_id)
    except ArtifactStoreError:
        return None
    return workflow_id, task_id


def _join_key(commit: Commit) -> tuple[str, str] | None:
    workflow_id, _, task_id = commit.trailers.get(JOIN_TRAILER, "").partition("/")
    return (workflow_id, task_id) if workflow_id and task_id else None


def _tag_names(commit: Commit) -> list[str]:
    """The store tags a version may carry, named by its trailers."""
    names = []
    if commit.trailers.get("Correlation-Id"):
        names.append(commit.trailers["Correlation-Id"])
    if commit.trailers.get("Prompt-Hash"):
        names.append(naming.PROMPT_PREFIX + commit.trailers["Prompt-Hash"])
    return names


def _tip_table(
    refs: list[tuple[str, str]],
    prefix: str,
    remote_space: str,
    task_id: str | None,
    archived: bool,
    tracking: bool,
) -> dict[tuple[str, str], Tip]:
    """The task branches of ``refs`` (sorted by name) by (workflow, task): see
    :meth:`History._branches`.

    A fleet's clone has thousands of task branches (mostly remote-tracking ones): one
    pass, a few string operations a line. They come sorted by name, so refs/archive/ and
    refs/heads/ come before refs/remotes/: a remote's copy is met when the local branch
    (or its archive) is already known."""
    heads_at, archive_at, remote_at = (
        len(f"{s}{prefix}/") for s in ("refs/heads/", "refs/archive/", remote_space)
    )
    found: dict[tuple[str, str], Tip] = {}
    archived_here: set[tuple[str, str]] = set()
    for sha, ref in refs:
        if tracking and ref.startswith(remote_space):
            workflow, slash, task = ref[remote_at:].partition("/")
            if not slash or "/" in task or (task_id is not None and task != task_id):
                continue
            key = (workflow, task)
            tip = found.get(key)
            if tip is None:
                if key not in archived_here:
                    found[key] = Tip(ref, sha)
            elif sha != tip.sha:
                tip.also.append(sha)
            continue
        archive = ref.startswith("refs/archive/")
        workflow, slash, task = ref[archive_at if archive else heads_at :].partition("/")
        if not slash or "/" in task or (task_id is not None and task != task_id):
            continue
        key = (workflow, task)
        if archive:
            archived_here.add(key)
            if archived:
                found[key] = Tip(ref, sha, True)
        else:
            found[key] = Tip(ref, sha)
    return found


def sort_key(entry: Mapping[str, Any]) -> str:
    """commit_timestamp as a string that sorts in time order (fraction optional)."""
    stamp = entry.get("commit_timestamp")
    if not isinstance(stamp, str):
        return ""
    return stamp[:-1] + ".000000Z" if len(stamp) == 20 and stamp.endswith("Z") else stamp
