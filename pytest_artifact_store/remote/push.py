"""Remote push (SPEC §6): many machines, one remote.

Push first: one atomic, unforced push of the task branch and the tags of the versions
the remote lacks, killed with its process group at the deadline -- in the common case
that is the only connection. When the push loses a race (the remote branch moved, or
another push held the server's ref lock), the remote's task branch and the tags of its
new versions are fetched and the two histories are JOINED by a tagless merge commit
(:mod:`.join`): no version is ever rebuilt, so every commit id and tag
``commit_artifacts`` returned stays true on every machine and every remote. Then the
push is tried again, with jittered, bounded backoff, until the deadline.

Only ``<branch_prefix>/*`` branches and ``corr_``/``prompt_`` tags are ever pushed, and a
push refuses to publish commits that are neither versions nor joins of the task unless
the remote already has them (:mod:`.outgoing`). A failure never loses the local commit:
it becomes ``pushed: False`` plus the reason in words (:mod:`.link`).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import GitResult, deadline_left
from pytest_artifact_store.naming import (
    APPROVAL_PREFIX,
    APPROVALS_MADE,
    INDEX_SPACE,
    PROMPT_PREFIX,
    index_tracking,
)
from pytest_artifact_store.remote.facts import JOIN_TRAILER, VersionFacts, task_ids
from pytest_artifact_store.remote.fold import fetch_indexes, index_refspec, push_fold
from pytest_artifact_store.remote.join import (
    TAGS_OWED,
    fetch_tags,
    join,
    missing_tags,
    settle_tags,
)
from pytest_artifact_store.remote.link import (
    FILLER,
    NO_ATOMIC,
    RACE,
    TAG_TAKEN,
    Link,
    PushFailed,
    check_remote_name,
    diagnose,
    failure_words,
    later,
    no_remote,
    porcelain,
    transient,
)
from pytest_artifact_store.remote.outgoing import outgoing_tags, publishable

_MAX_TRIES = 64
_FETCH_CHUNK = 500  # refspecs per fetch when push_pending reads the remote's branches
# A branch whose tags a non-atomic server has not confirmed yet (branch first, then tags):
# push_pending pushes it again whatever the remote's branch says.
_PENDING_TAGS = "refs/artifact-store/pending-tags"
# Under require_approval, when the branch tip is not approved yet: the approved commit a
# push publishes (or the join of it with the remote's tip), per remote and branch.
_PUBLISH = "refs/artifact-store/publish"
# The newest approval tag of a task a push to that remote carried: newer ones are pending.
APPROVALS_SENT = "refs/artifact-store/approvals-sent"
# A push sends one task's few new objects. With a reachability bitmap in the clone (a
# clone of a local path hard-links the server's packs, bitmap included; a bare clone's
# gc writes its own), pack-objects first builds the bitmap of everything the remote
# advertises, walking the trees of every advertised ref the bitmap does not cover --
# on a remote whose refs moved since its last repack (a fold's index refs) that was
# 1.4 s of a 2.0 s push. The plain revision walk from the new commits to the remote's
# tips costs what the push sends.
PACK_CONFIG = ["-c", "pack.useBitmaps=false"]


@dataclass
class PushOutcome:
    """What one branch's push came to."""

    pushed: bool
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    attempts: int = 0
    joins: int = 0
    unreachable: bool = False  # the remote never answered about our refs
    waiting: list[str] = field(default_factory=list)  # unapproved versions held back
    tip: str | None = None  # what the remote's branch now is, once pushed
    tags: list[str] = field(default_factory=list)  # the tags that push carried
    moved: bool = False  # the push changed a ref of the remote (not all "up to date")


def awaiting_approval(names: list[str], contains: str | None = None) -> str:
    """Why a version was not pushed under require_approval, and what to do."""
    if contains and names:
        return (
            f"require_approval is on and version(s) under {contains[:12]} are not "
            f"approved: {', '.join(names)} (a version is pushed with its history: approve "
            "them too with 'artifact-store approve REF --stage NAME')"
        )
    shown = ", ".join(names) if names else "this version"
    return (
        f"require_approval is on and {shown} awaits approval; "
        "'artifact-store approve REF --stage NAME' records one and pushes it"
    )


def record_order(tag: str) -> tuple[str, str]:
    """Approval records of a task, oldest first: by the time in the name
    (``<stage>/<time>-<nonce>``), not by the stage, which comes first."""
    return (tag.rpartition("/")[2], tag)


class Pusher:
    """Pushes a store's artifact branches and tags to one of its remotes."""

    def __init__(self, store: VersionFacts, progress: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.repo = store.repo
        self.config = store.config
        # told what is being pushed where, as it starts (the command line, on a terminal)
        self.progress = progress

    # ------------------------------------------------------------------ entry points
    def after_commit(self, branch: str, commit_sha: str) -> PushOutcome:
        """Auto-push after a commit: ``pushed`` only when ``commit_sha`` reached the remote
        (the store calls this only with auto_push on)."""
        remote = self.config.remote_name
        try:
            check_remote_name(remote)
        except ArtifactStoreError as exc:
            return PushOutcome(False, str(exc))
        if not self.repo.remote_exists(remote):
            return PushOutcome(False, no_remote(remote))
        if self.config.require_approval:
            commit = self.repo.read_commit(commit_sha)
            name = (commit.trailers.get("Correlation-Id") if commit else None) or commit_sha[:12]
            return PushOutcome(False, awaiting_approval([name]))
        return self.push_branch(remote, branch, self.config.push_timeout, contains=commit_sha)

    def push_pending(
        self, remote: str | None = None, timeout: float | None = None, *, verify: bool = False
    ) -> dict[str, Any]:
        """Push every artifact branch (and its tags) the remote lacks (SPEC §6).

        Pending work is found locally, in O(pending): the task branches whose tip is not
        what their remote-tracking branch says the remote has (or that owe tags); only
        those are read from the remote, in one fetch, and pushed where the remote lacks
        them or has them elsewhere. ``verify`` reads every local task branch from the
        remote instead (a branch deleted there behind this clone's back is restored).
        Returns ``{'success', 'remote', 'pushed': [branches], 'up_to_date': [branches],
        'errors': {branch: reason}}`` (+ ``'notes': {branch: [...]}`` when a remote kept
        a tag of its own). Raises ArtifactStoreError when the remote cannot be reached.
        """
        remote = check_remote_name(remote or self.config.remote_name)
        timeout = self.config.push_timeout if timeout is None else timeout
        if not self.repo.remote_exists(remote):
            raise ArtifactStoreError(no_remote(remote))
        prefix = self.config.branch_prefix
        local = self._task_refs(f"refs/heads/{prefix}/", "refs/heads/")
        unconfirmed = self._task_refs(f"{_PENDING_TAGS}/{remote}/", f"{_PENDING_TAGS}/{remote}/")
        owed = self._task_refs(f"{TAGS_OWED}/{remote}/", f"{TAGS_OWED}/{remote}/")
        tracking = f"refs/remotes/{remote}/"
        theirs = self._task_refs(f"{tracking}{prefix}/", tracking)
        approvals = self._approvals_owed(remote, local)
        ask = sorted(
            b
            for b, sha in local.items()
            if verify or theirs.get(b) != sha or b in unconfirmed or b in owed or b in approvals
        )
        # A branch with versions on top of what this clone last saw on the remote is
        # pushed first, as a commit's auto-push is: the push answers (a remote that moved
        # meanwhile refuses it, and it is joined), so its refs need no read before it.
        ahead_only = {
            b
            for b in ask
            if not verify
            and b not in unconfirmed
            and b not in owed
            and b not in approvals
            and theirs.get(b) is not None
            and self.repo.is_ancestor(theirs[b], local[b])
        }
        ask = [b for b in ask if b not in ahead_only]
        if ask:
            with Link(self.repo, remote, timeout) as link:
                theirs = self._read_remote_branches(link, ask)
        result: dict[str, Any] = {
            "success": True,
            "remote": remote,
            "pushed": [],
            "up_to_date": [],
            "errors": {},
        }
        if self.config.require_approval:
            result["awaiting_approval"] = {}
        folded = self.repo.for_each_ref(
            [index_tracking(remote, prefix)], "%(objectname)"
        )  # the remote's indexes: an archived branch there is not to be restored
        for branch, sha in sorted(local.items()):
            if branch not in theirs and any(self.repo.is_ancestor(sha, i) for i in folded):
                result.setdefault("archived", []).append(branch)
                continue
            ahead = None if branch in ahead_only else theirs.get(branch)
            if ahead not in (None, sha) and self.repo.is_ancestor(sha, ahead):
                sha = self._catch_up(remote, branch, sha, ahead)
                owed.setdefault(branch, sha)
            if theirs.get(branch) == sha and branch not in unconfirmed | approvals.keys():
                result["up_to_date"].append(branch)
                if branch in owed:
                    with contextlib.suppress(PushFailed), Link(self.repo, remote, timeout) as link:
                        settle_tags(self.store, link, branch)
                continue
            outcome = self.push_branch(remote, branch, timeout)
            if outcome.unreachable:  # every other branch would fail the same way
                raise ArtifactStoreError(str(outcome.error))
            if outcome.waiting:
                result["awaiting_approval"][branch] = outcome.waiting
                if not outcome.pushed:
                    if branch in approvals and theirs.get(branch):  # records of its versions
                        records = self.push_records(remote, branch, timeout)  # there
                        if records.pushed and records.moved:
                            result["pushed"].append(branch)
                    continue
            if outcome.notes:
                result.setdefault("notes", {})[branch] = outcome.notes
            if outcome.pushed and not outcome.moved:  # held back, or another push was first
                result["up_to_date"].append(branch)
            elif outcome.pushed:
                result["pushed"].append(branch)
            else:
                result["errors"][branch] = outcome.error
                result["success"] = False
        for branch in sorted(approvals.keys() - local.keys()):  # tasks archived here
            if self.repo.resolve([f"{tracking}{branch}"])[0] is not None:
                outcome = self.push_records(remote, branch, timeout)
                if outcome.pushed and outcome.moved:
                    result["pushed"].append(branch)
        return result

    def push_records(
        self, remote: str, branch: str, timeout: float, *, contains: str | None = None
    ) -> PushOutcome:
        """Push the approval records of the task's versions the remote has (its
        remote-tracking branch holds them), only those -- a record of another would
        publish that version and its history: for a version already there, or a task
        archived here (no local branch). ``contains``: a version whose records must be
        among them."""
        there = self.repo.resolve([f"refs/remotes/{remote}/{branch}"])[0]
        if there is None or (contains and not self.repo.is_ancestor(contains, there)):
            what = f"{contains[:12]}" if contains else "its versions"
            return PushOutcome(
                False,
                f"{branch} is archived here and {remote} is not known to have {what}: "
                "the approval is recorded locally (a record is pushed with its version)",
            )
        tags = self._approvals_in(remote, branch, there)
        with Link(self.repo, remote, timeout) as link:
            refspecs = [f"refs/tags/{t}:refs/tags/{t}" for t in tags]
            res = self._push(link, refspecs, atomic=True, step="push to")
            if res.returncode and NO_ATOMIC in res.stderr:
                res = self._push(link, refspecs, atomic=False, step="push to")
            if res.returncode:
                return PushOutcome(
                    False,
                    f"push of the approval records of {branch} to {link.where()} failed: "
                    f"{failure_words(res.stderr, res.stdout)}",
                )
        self._remember(remote, branch, there, tags)
        said = porcelain(res.stdout)
        return PushOutcome(True, tip=there, tags=tags, moved={f for f, _ in said.values()} != {"="})

    def fetch(
        self,
        remote: str | None = None,
        workflow_id: str | None = None,
        task_id: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Fetch only what a runner needs of a big fleet's remote: the task branches of
        one workflow (or one task, or all) into ``refs/remotes/<remote>/...`` (pruning
        those the remote no longer has), then the tags of their versions this clone
        lacks -- two connections, whatever else the remote holds. Versions fetched are
        listed and found like local ones; others are learned of when a push joins them.
        Returns ``{'remote', 'branches': [fetched branches], 'tags': [fetched tags]}``."""
        remote = check_remote_name(remote or self.config.remote_name)
        timeout = self.config.push_timeout if timeout is None else timeout
        if not self.repo.remote_exists(remote):
            raise ArtifactStoreError(no_remote(remote))
        prefix = self.config.branch_prefix
        if task_id and not workflow_id:
            raise ArtifactStoreError("fetching one task needs its workflow id too")
        path = "/".join(p for p in (prefix, workflow_id, task_id) if p)
        tracking = f"refs/remotes/{remote}/"
        spec = f"{path}/*" if not task_id else path
        with Link(self.repo, remote, timeout) as link:
            records = "/".join(["refs/tags/approval", *(p for p in (workflow_id, task_id) if p)])
            specs = [
                f"+refs/heads/{spec}:{tracking}{spec}",
                index_refspec(remote, prefix),
                f"{records}/*:{records}/*",  # approval records: stages are known here too
            ]
            res = link.fetch("fetch from", specs, prune=True)
            if res.returncode and "couldn't find remote ref" not in res.stderr:
                raise ArtifactStoreError(str(link.failed("fetch from", res)))
            tips = {
                b: sha
                for b, sha in self._task_refs(tracking + path, tracking).items()
                if not task_id or b == path
            }
            wanted = missing_tags(self.store, link, tips)
            if not fetch_tags(link, wanted):
                raise ArtifactStoreError(f"fetching tags from {link.where()} kept failing")
        have = self.repo.resolve([f"refs/tags/{n}" for n in wanted])
        return {
            "remote": remote,
            "branches": sorted(tips),
            "tags": [n for n, sha in zip(wanted, have, strict=True) if sha],
        }

    def fetch_indexes(self, remote: str | None, timeout: float | None) -> None:
        """Copy the remote's index refs (folded tags) next to the remote-tracking branches."""
        with self._link(remote, timeout) as link:
            fetch_indexes(link, self.config.branch_prefix)

    def push_fold(
        self,
        remote: str | None,
        timeout: float | None,
        indexes: Mapping[str, str],
        names: Mapping[str, str],
        tasks: Mapping[str, str],
    ) -> dict[str, Any]:
        """Publish folded tags (:func:`~pytest_artifact_store.remote.fold.push_fold`)."""
        with self._link(remote, timeout) as link:
            return push_fold(self.repo, link, self.config.branch_prefix, indexes, names, tasks)

    def _link(self, remote: str | None, timeout: float | None) -> Link:
        remote = check_remote_name(remote or self.config.remote_name)
        if not self.repo.remote_exists(remote):
            raise ArtifactStoreError(no_remote(remote))
        return Link(self.repo, remote, self.config.push_timeout if timeout is None else timeout)

    def _catch_up(self, remote: str, branch: str, sha: str, theirs: str) -> str:
        """The remote has every version of the local branch and more (other machines'):
        move the local branch up to it, as a join would, owing their tags."""
        owed = f"{TAGS_OWED}/{remote}/{branch}"
        error = self.repo.transaction(
            [(f"refs/heads/{branch}", theirs, sha), (owed, theirs, self.repo.resolve([owed])[0])],
            "artifact-store: caught up",
        )
        return theirs if error is None else sha

    def _task_refs(self, pattern: str, space: str) -> dict[str, str]:
        """{branch: tip} of the ``<prefix>/<workflow>/<task>`` refs under ``pattern``."""
        found = {}
        for line in self.repo.for_each_ref([pattern], "%(objectname) %(refname)"):
            sha, ref = line.split(" ", 1)
            branch = ref.removeprefix(space)
            if branch.removeprefix(self.config.branch_prefix + "/").count("/") == 1:
                found[branch] = sha
        return found

    def _read_remote_branches(self, link: Link, branches: list[str]) -> dict[str, str]:
        """{branch: the remote's tip} for ``branches``: their refs are read with
        ``ls-remote --heads`` (a fetch from a fleet's remote costs seconds more: git
        checks connectivity against every local ref), only refs whose objects this
        clone lacks are fetched, then the remote-tracking refs are set to what the
        remote has (pruning those it no longer has).

        git 2.39's ls-remote sends the server no prefix for a pattern, only for
        ``--heads``/``--tags``: with a pattern alone the server lists every ref it has
        (153k at 100k versions, ~0.3 s). So the remote's index refs (folded tags), which
        no such option reaches, are read -- listing everything -- only when a branch is
        missing there that this clone saw there or that holds older versions here (not a
        new task): the remote may have archived it, and it must not be pushed back."""
        remote = link.remote
        tracking = f"refs/remotes/{remote}/"
        prefix = self.config.branch_prefix
        index_space = f"{INDEX_SPACE}/{prefix}/"
        wanted = {f"refs/heads/{b}" for b in branches}
        found: dict[str, str] = {}
        for i in range(0, len(branches), _FETCH_CHUNK):
            patterns = [f"refs/heads/{b}" for b in branches[i : i + _FETCH_CHUNK]]
            res = link.run("read the refs of", ["ls-remote", "--heads", link.source(), *patterns])
            if res.returncode:
                raise ArtifactStoreError(str(link.failed("read the refs of", res)))
            for line in res.stdout.splitlines():
                oid, _, ref = line.partition("\t")
                if ref in wanted:
                    found[ref] = oid
        seen = self.repo.resolve([tracking + b for b in branches])
        gone = any(  # seen there before, or older versions here (not a new task)
            f"refs/heads/{b}" not in found and (sha is not None or self._needs_indexes(remote, b))
            for b, sha in zip(branches, seen, strict=True)
        )
        if gone:
            res = link.run("read the refs of", ["ls-remote", link.source(), f"{index_space}*"])
            if res.returncode:
                raise ArtifactStoreError(str(link.failed("read the refs of", res)))
            for line in res.stdout.splitlines():
                oid, _, ref = line.partition("\t")
                if ref.startswith(index_space):
                    found[ref] = oid

        def local_name(ref: str) -> str:
            if ref.startswith(index_space):
                return index_tracking(remote, prefix) + ref.removeprefix(index_space)
            return tracking + ref.removeprefix("refs/heads/")

        have = self.repo.resolve([f"{oid}^{{commit}}" for oid in found.values()])
        missing = [ref for ref, known in zip(found, have, strict=True) if known is None]
        if missing:
            tips = self.repo.resolve(sorted(wanted))
            res = link.fetch(
                "fetch from",
                [f"+{ref}:{local_name(ref)}" for ref in missing],
                tips=[t for t in tips if t],
            )
            if res.returncode:
                raise ArtifactStoreError(str(link.failed("fetch from", res)))
        targets = {local_name(ref): oid for ref, oid in found.items()}
        names = {local_name(ref) for ref in wanted} | set(targets)
        if gone:  # the remote's index refs were read: copies of others are pruned
            names |= set(self.repo.for_each_ref([index_tracking(remote, prefix)], "%(refname)"))
        ordered = sorted(names)
        updates: list[tuple[str, str, str | None]] = [
            (name, targets.get(name) or self.repo.null_sha, old)
            for name, old in zip(ordered, self.repo.resolve(ordered), strict=True)
            if targets.get(name) != old
        ]
        # a cache of what the remote has: when another process moved one meanwhile, the
        # push below finds out the same way (a rejected push, then a join)
        if updates:
            self.repo.transaction(updates, "artifact-store: read the remote")
        return self._task_refs(tracking + prefix + "/", tracking)

    # ------------------------------------------------------------------ one branch
    def push_branch(
        self, remote: str, branch: str, timeout: float, *, contains: str | None = None
    ) -> PushOutcome:
        """Push ``branch`` and its versions' tags; join and retry on a lost race.
        ``contains``: a version that must be in what was pushed."""
        with Link(self.repo, remote, timeout) as link:
            if self._needs_indexes(remote, branch):
                # older versions of this task may be archived and folded on the remote,
                # and nothing here says so: learn it before choosing tags to publish
                with contextlib.suppress(ArtifactStoreError):
                    fetch_indexes(link, self.config.branch_prefix)
            return self._push_branch(link, branch, timeout, contains)

    def _needs_indexes(self, remote: str, branch: str) -> bool:
        """The remote-tracking branch is missing but the local one has older versions
        (not a new task): the remote may have archived the task."""
        tracking, ref = f"refs/remotes/{remote}/{branch}", f"refs/heads/{branch}"
        if self.repo.resolve([tracking])[0] is not None:
            return False
        tip = self.repo.read_commit(ref)
        parent = self.repo.read_commit(tip.parents[0]) if tip and tip.parents else None
        return parent is not None and self.store.is_artifact_commit(
            parent, *task_ids(self.store, branch)
        )

    def _push_branch(
        self, link: Link, branch: str, timeout: float, contains: str | None
    ) -> PushOutcome:
        remote = link.remote
        outcome = PushOutcome(False)
        ref = f"refs/heads/{branch}"
        skip: set[str] = set()  # tags the remote holds for other commits: theirs stand
        known: tuple[str, list[str]] | None = None  # the last tip checked, and its tags
        atomic = True
        seen = self.repo.resolve([f"refs/remotes/{remote}/{branch}"])[0]  # before this push
        # tips an earlier try may have landed before it failed: this push's, and the one
        # whose tags a server without atomic pushes has not confirmed (branch first)
        tried = {t for t in self.repo.resolve([f"{_PENDING_TAGS}/{remote}/{branch}"]) if t}
        try:
            while True:
                outcome.attempts += 1
                tip = self.repo.resolve([ref])[0]
                source = ref
                if tip is not None and self.config.require_approval:
                    tip, source, outcome.waiting = self._approved_tip(remote, branch, tip)
                    if tip is None or (contains and not self.repo.is_ancestor(contains, tip)):
                        outcome.error = awaiting_approval(
                            self._unapproved(remote, branch, contains), contains
                        )
                        return outcome
                if tip is None or (contains and not self.repo.is_ancestor(contains, tip)):
                    outcome.error = (
                        f"branch {branch} does not exist here"
                        if tip is None
                        else f"{branch} no longer contains {contains}: something moved it "
                        "(nothing was pushed; the version is kept by its tags)"
                    )
                    return outcome
                marker = f"{_PENDING_TAGS}/{remote}/{branch}"
                unconfirmed = self.repo.resolve([marker])[0] is not None
                if known is not None and self._joined(tip, known[0]):
                    tags = known[1]  # only our join is new: the remote has the rest
                else:
                    tags = outgoing_tags(
                        self.store, link, branch, tip, since_tracking=not unconfirmed
                    )
                    tags += self._approvals_in(remote, branch, tip)
                known = (tip, tags)
                tags = [t for t in tags if t not in skip]
                if self.progress is not None:
                    again = f", try {outcome.attempts}" if outcome.attempts > 1 else ""
                    left = deadline_left(link.deadline)
                    self.progress(f"pushing {branch} to {link.where()} ({left:.0f} s left{again})")
                res = (
                    self._push_atomic(link, tip, ref, tags)
                    if atomic
                    else self._push_branch_then_tags(link, tip, ref, tags)
                )
                if atomic and res.returncode and NO_ATOMIC in res.stderr:
                    atomic = False
                    continue
                if res.returncode and porcelain(res.stdout).get(ref, ("?", ""))[0] != "!":
                    tried.add(tip)  # not refused: it may have landed before the answer was lost
                if res.returncode == 0:
                    self._remember(remote, branch, tip, tags)
                    outcome.pushed, outcome.tip, outcome.tags = True, tip, tags
                    said = porcelain(res.stdout)
                    outcome.moved = {flag for flag, _ in said.values()} != {"="}
                    # news for the remote's branch, one event per tip: this push moved it
                    # (not another process or clone, whose tip a join caught up with), or
                    # an earlier try did before its answer was lost
                    if tip in tried or (tip != seen and said.get(ref, ("=", ""))[0] != "="):
                        self.store.pushed(remote, branch, tip, tags)
                    if outcome.waiting:
                        outcome.notes.append(
                            "held back until approved (require_approval): "
                            + ", ".join(outcome.waiting)
                        )
                    with contextlib.suppress(PushFailed):  # only lookups wait for these
                        settle_tags(self.store, link, branch)
                    return outcome
                status = porcelain(res.stdout)
                reasons = {dst: why for dst, (flag, why) in status.items() if flag == "!"}
                for dst, why in reasons.items():
                    if dst.startswith("refs/tags/") and TAG_TAKEN in why:
                        self._tag_taken(dst.removeprefix("refs/tags/"), link, skip, outcome)
                others = [why for why in reasons.values() if TAG_TAKEN not in why]
                raced = any(any(r in why for r in RACE) for why in others)
                if reasons and all(FILLER in why or any(r in why for r in RACE) for why in others):
                    if raced and join(self.store, link, branch, tip, source):
                        outcome.joins += 1
                elif not reasons and transient(res.stderr):
                    pass  # the connection failed before the server said a word: try again
                elif not reasons:
                    raise link.failed("push to", res)
                else:
                    cause = diagnose(res.stderr + "\n" + res.stdout)
                    outcome.error = (
                        f"push of {branch} to {link.where()} failed: "
                        f"{cause + ' -- ' if cause else ''}{failure_words(res.stderr, res.stdout)}"
                    )
                    return outcome
                if time.monotonic() >= link.deadline or outcome.attempts >= _MAX_TRIES:
                    what = (
                        "kept losing to other pushes" if reasons else "kept losing its connection"
                    )
                    outcome.error = (
                        f"push of {branch} to {link.where()} {what} for {timeout:g} s "
                        f"{later(link.remote)}: {failure_words(res.stderr, res.stdout)}"
                    )
                    return outcome
                if raced or not reasons:
                    # a loser waits longer each time it loses: fewer wasted tries leave
                    # the server (and the CPU) to the pushes that can land
                    pause = random.uniform(0.05, min(3.0, 0.1 * 2 ** min(outcome.attempts, 5)))
                    time.sleep(min(pause, deadline_left(link.deadline)))
        except PushFailed as exc:
            outcome.error = str(exc)
            outcome.unreachable = exc.unreachable
            return outcome

    def _joined(self, tip: str, checked: str) -> bool:
        """Whether ``tip`` is ``checked`` itself, or a join commit this push made of the
        remote's tip (just fetched) and ``checked``: what it publishes is then known."""
        if tip == checked:
            return True
        commit = self.repo.read_commit(tip)
        return (
            commit is not None
            and JOIN_TRAILER in commit.trailers
            and len(commit.parents) == 2
            and commit.parents[1] == checked
        )

    def _tag_taken(self, name: str, link: Link, skip: set[str], outcome: PushOutcome) -> None:
        """The remote has ``name`` on another commit: its tag stands (never forced)."""
        skip.add(name)
        if not name.startswith(PROMPT_PREFIX):  # a prompt's first version anywhere keeps it
            outcome.notes.append(
                f"{name}: {link.where()} already has this tag on another commit (the same "
                "run recorded on another machine); the remote's tag stands and this version "
                "was pushed without it"
            )

    def _push(self, link: Link, refspecs: list[str], *, atomic: bool, step: str) -> GitResult:
        args = ["-c", f"remote.{link.remote}.mirror=false", *PACK_CONFIG, "push", "--porcelain"]
        args += ["--no-follow-tags", "--recurse-submodules=no"] + (["--atomic"] if atomic else [])
        return link.run(step, [*args, link.remote, *refspecs])

    def _push_atomic(self, link: Link, tip: str, ref: str, tags: list[str]) -> GitResult:
        refspecs = [f"{tip}:{ref}"] + [f"refs/tags/{t}:refs/tags/{t}" for t in tags]
        return self._push(link, refspecs, atomic=True, step="push to")

    def _push_branch_then_tags(self, link: Link, tip: str, ref: str, tags: list[str]) -> GitResult:
        """A server without atomic pushes: the branch, then its tags, each verified. Until
        the tags are confirmed the branch stays pending (a marker ref) for push_pending."""
        marker = f"{_PENDING_TAGS}/{link.remote}/{ref.removeprefix('refs/heads/')}"
        old = self.repo.resolve([marker])[0]
        if tags:
            self.repo.transaction([(marker, tip, old)], "artifact-store: tags pending")
            old = tip
        res = self._push(link, [f"{tip}:{ref}"], atomic=False, step="push to")
        if res.returncode == 0 and tags:
            refspecs = [f"refs/tags/{t}:refs/tags/{t}" for t in tags]
            branch_said = res.raw
            res = self._push(link, refspecs, atomic=False, step="push tags to")
            # what happened to the branch, with the tags' lines (porcelain reads both)
            res = GitResult(res.returncode, branch_said + res.raw, res.stderr, res.timed_out)
        if res.returncode == 0 and old is not None:
            self.repo.transaction([(marker, self.repo.null_sha, old)], "artifact-store: tags sent")
        return res

    def _remember(self, remote: str, branch: str, tip: str, tags: list[str]) -> None:
        """Point the remote-tracking branch at what the remote now has (git does this
        itself only where the remote's fetch refspec covers the branch), and the
        approvals marker at the newest approval the push carried."""
        tracking = f"refs/remotes/{remote}/{branch}"
        names = [tracking]
        sent = sorted((t for t in tags if t.startswith(APPROVAL_PREFIX)), key=record_order)
        marker = f"{APPROVALS_SENT}/{remote}/{branch}"
        if sent:
            names += [marker, f"refs/tags/{sent[-1]}"]
        now = self.repo.resolve(names)
        updates = [(tracking, tip, now[0])] if now[0] != tip else []
        if sent and now[2] and now[1] != now[2]:
            updates.append((marker, now[2], now[1]))
        if updates:
            self.repo.transaction(updates, "artifact-store: pushed")

    def _approvals_owed(self, remote: str, local: Mapping[str, str]) -> dict[str, str]:
        """{branch: newest approval tag} of the tasks whose approvals ``remote`` may lack:
        a local task branch whose newest record no push to it has carried, and a task
        without one (archived here, or only the remote's) holding a record made in
        this clone (:data:`APPROVALS_MADE`) newer than the last one carried there.
        A clone of a fleet's remote holds every task's records, and those came from
        the remote: they are never owed (one push each cost the first push_pending of
        a new clone a push per approved task). Only the records of these tasks are read
        (one for-each-ref of their prefixes), not every record in the clone."""
        prefix = self.config.branch_prefix
        made: dict[str, str] = {}  # branch: its newest record made here
        for ref in self.repo.for_each_ref([f"{APPROVALS_MADE}/"], "%(refname)"):
            parts = ref.removeprefix(f"{APPROVALS_MADE}/").split("/")
            if len(parts) == 4:
                tag = f"refs/tags/{APPROVAL_PREFIX}{'/'.join(parts)}"
                branch = f"{prefix}/{parts[0]}/{parts[1]}"
                made[branch] = max(made.get(branch, tag), tag, key=record_order)
        tasks = sorted(set(local) | set(made))
        if not tasks:
            return {}
        patterns = (
            [f"refs/tags/{APPROVAL_PREFIX}{b.removeprefix(prefix + '/')}/" for b in tasks]
            if len(tasks) <= _FETCH_CHUNK
            else [f"refs/tags/{APPROVAL_PREFIX}"]
        )
        newest: dict[str, tuple[str, str]] = {}
        name_of: dict[str, str] = {}
        for line in self.repo.for_each_ref(patterns, "%(objectname) %(refname)"):
            sha, ref = line.split(" ", 1)
            parts = ref.removeprefix(f"refs/tags/{APPROVAL_PREFIX}").split("/")
            if len(parts) == 4:
                branch = f"{prefix}/{parts[0]}/{parts[1]}"
                name_of[sha] = ref
                newest[branch] = max(
                    newest.get(branch, ("", "")), (ref, sha), key=lambda r: record_order(r[0])
                )
        space = f"{APPROVALS_SENT}/{remote}/"
        sent = self._task_refs(space, space)
        owed = {}
        for branch, (ref, sha) in newest.items():
            if sent.get(branch) == sha:
                continue
            if branch in local:
                owed[branch] = ref
            elif branch in made:
                carried = name_of.get(sent.get(branch, ""))
                if carried is None or record_order(made[branch]) > record_order(carried):
                    owed[branch] = ref
        return owed

    def _approvals_in(self, remote: str, branch: str, tip: str) -> list[str]:
        """The approval tags of the versions in ``tip``'s history, or that the remote
        has (its remote-tracking branch holds them: a reviewer's records of another
        machine's versions) -- a few per task."""
        tags = self.store.approval_tags(*task_ids(self.store, branch))
        there = self.repo.resolve([f"refs/remotes/{remote}/{branch}"])[0]
        return sorted(
            t
            for t, target in tags.items()
            if self.repo.is_ancestor(target, tip)
            or (there is not None and self.repo.is_ancestor(target, there))
        )

    def _unapproved(self, remote: str, branch: str, contains: str | None) -> list[str]:
        """The names of the versions under ``contains`` (the local branch's tip when
        None) the remote is not known to have that lack their approvals, newest first:
        what holds it back."""
        tip = contains or self.repo.resolve([f"refs/heads/{branch}"])[0]
        if tip is None:
            return []
        _, waiting = publishable(self.store, remote, branch, tip)
        ok = self.store.approved_versions(*task_ids(self.store, branch))
        return [c.trailers.get("Correlation-Id") or c.sha[:12] for c in waiting if c.sha not in ok]

    def _approved_tip(
        self, remote: str, branch: str, tip: str
    ) -> tuple[str | None, str, list[str]]:
        """Under require_approval: (what a push of ``branch`` may publish, the local ref
        holding it, the names of the versions held back: unapproved ones and those
        above them)."""
        best, waiting = publishable(self.store, remote, branch, tip)
        names = [c.trailers.get("Correlation-Id") or c.sha[:12] for c in waiting]
        ref = f"refs/heads/{branch}"
        if best is None or best == tip:
            return best, ref, names
        side = f"{_PUBLISH}/{remote}/{branch}"
        held = self.repo.resolve([side])[0]
        if held is not None and held != best and self.repo.is_ancestor(best, held):
            return held, side, names  # the join of it with the remote's tip, made before
        if held != best:
            self.repo.transaction([(side, best, held)], "artifact-store: approved")
        return best, side, names
