"""Remote push (SPEC §6): many machines, one remote.

Push first: one atomic, unforced push of the task branch and the tags of the versions
the remote lacks, killed with its process group at the deadline -- in the common case
that is the only connection. When the push loses a race (the remote branch moved, or
another push held the server's ref lock), the remote's task branch and the tags of its
new versions are fetched and the two histories are JOINED by a tagless merge commit:
no version is ever rebuilt, so every commit id and tag ``commit_artifacts`` returned
stays true on every machine and every remote. Then the push is tried again, with
jittered, bounded backoff, until push_timeout.

Only ``<branch_prefix>/*`` branches and ``corr_``/``prompt_`` tags are ever pushed, and a
push refuses to publish commits that are neither versions nor joins of the task unless
the remote already has them. A failure never loses the local commit: it becomes
``pushed: False`` plus the reason.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import (
    Commit,
    GitResult,
    Repository,
    deadline_left,
    last_lines,
    redact,
)
from pytest_artifact_store.naming import PROMPT_PREFIX
from pytest_artifact_store.timestamps import utc_now

# A join commit (SPEC §6) names its task and the version its task directory holds; it
# carries no Workflow-Id/Task-Id trailers, so it is never taken for a version.
JOIN_TRAILER = "Artifact-Join"
JOIN_VERSION_TRAILER = "Artifact-Version"

# A lost race, as git's --porcelain push output words it: the branch moved under us
# (client side), or the server's ref transaction lost to a concurrent push.
_RACE = (
    "fetch first",
    "non-fast-forward",
    "stale info",
    "cannot lock ref",
    "atomic transaction failed",
    "failed to update ref",
    "failed to lock",
    "unable to lock",
    "incorrect old value",
    "reference already exists",
    "remote failed to report status",
)
_FILLER = "atomic push failed"  # the refs that were fine when another one was rejected
_TAG_TAKEN = "already exists"  # a tag of that name, pointing elsewhere, is on the remote
# The connection failed before the server said anything about our refs: try again.
_TRANSIENT = re.compile(
    r"connection reset|kex_exchange_identification|connection closed by remote|"
    r"returned error: 50[234]|rpc failed; http 50[234]|early eof|broken pipe",
    re.I,
)
_NO_ATOMIC = "does not support --atomic"
_MAX_TRIES = 64
_OUTGOING_READS = 64  # commits read per round while walking what a push publishes


@dataclass
class PushOutcome:
    """What one branch's push came to."""

    pushed: bool
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    attempts: int = 0
    joins: int = 0
    unreachable: bool = False  # the remote never answered about our refs


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


class _PushFailed(ArtifactStoreError):
    """A push step failed; push_branch turns it into ``pushed: False``."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class Pusher:
    """Pushes a store's artifact branches and tags to one of its remotes."""

    def __init__(self, store: VersionFacts) -> None:
        self.store = store
        self.repo = store.repo
        self.config = store.config

    # ------------------------------------------------------------------ entry points
    def after_commit(self, branch: str) -> PushOutcome:
        if not self.config.auto_push:
            return PushOutcome(False, "auto_push is off")
        remote = self.config.remote_name
        if not self.repo.remote_exists(remote):
            return PushOutcome(False, _no_remote(remote))
        return self.push_branch(remote, branch, self.config.push_timeout)

    def push_pending(
        self, remote: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Push every artifact branch whose local tip the remote lacks (SPEC §6).

        What the remote has is what this clone last saw of it (its remote-tracking
        branches, kept current by every push and join): no branch is asked about over
        the network, so the cost follows the pending branches, not all of them.
        Returns ``{'success', 'remote', 'pushed': [branches], 'up_to_date': [branches],
        'errors': {branch: reason}}`` (+ ``'notes': {branch: [...]}`` when a remote kept
        a tag of its own).
        """
        remote = remote or self.config.remote_name
        timeout = self.config.push_timeout if timeout is None else timeout
        if not self.repo.remote_exists(remote):
            raise ArtifactStoreError(_no_remote(remote))
        prefix = self.config.branch_prefix
        local = self._task_refs(f"refs/heads/{prefix}/", "refs/heads/")
        seen = self._task_refs(f"refs/remotes/{remote}/{prefix}/", f"refs/remotes/{remote}/")
        result: dict[str, Any] = {
            "success": True,
            "remote": remote,
            "pushed": [],
            "up_to_date": [],
            "errors": {},
        }
        for branch, sha in sorted(local.items()):
            if seen.get(branch) == sha:
                result["up_to_date"].append(branch)
                continue
            outcome = self.push_branch(remote, branch, timeout)
            if outcome.unreachable:  # every other branch would fail the same way
                raise ArtifactStoreError(str(outcome.error))
            if outcome.notes:
                result.setdefault("notes", {})[branch] = outcome.notes
            if outcome.pushed:
                result["pushed"].append(branch)
            else:
                result["errors"][branch] = outcome.error
                result["success"] = False
        return result

    def _task_refs(self, pattern: str, space: str) -> dict[str, str]:
        """{branch: tip} of the ``<prefix>/<workflow>/<task>`` refs under ``pattern``."""
        found = {}
        for line in self.repo.for_each_ref([pattern], "%(objectname) %(refname)"):
            sha, ref = line.split(" ", 1)
            branch = ref.removeprefix(space)
            if branch.removeprefix(self.config.branch_prefix + "/").count("/") == 1:
                found[branch] = sha
        return found

    # ------------------------------------------------------------------ one branch
    def push_branch(self, remote: str, branch: str, timeout: float) -> PushOutcome:
        """Push ``branch`` and its versions' tags; join and retry on a lost race."""
        deadline = time.monotonic() + timeout
        outcome = PushOutcome(False)
        ref = f"refs/heads/{branch}"
        skip: set[str] = set()  # tags the remote holds for other commits: theirs stand
        atomic = True
        try:
            while True:
                outcome.attempts += 1
                tip = self.repo.resolve([ref])[0]
                if tip is None:
                    outcome.error = f"branch {branch} does not exist locally"
                    return outcome
                tags = [
                    t for t in self._outgoing_tags(remote, branch, tip, deadline) if t not in skip
                ]
                refspecs = [f"{tip}:{ref}"] + [f"refs/tags/{t}:refs/tags/{t}" for t in tags]
                if atomic:
                    res = self._push(remote, refspecs, deadline, atomic=True, step="push")
                    if res.returncode and _NO_ATOMIC in res.stderr:
                        atomic = False
                        continue
                else:  # the branch first, then its tags, each verified
                    res = self._push(remote, refspecs[:1], deadline, atomic=False, step="push")
                    if res.returncode == 0 and len(refspecs) > 1:
                        res = self._push(
                            remote, refspecs[1:], deadline, atomic=False, step="push tags"
                        )
                if res.returncode == 0:
                    self._remember(remote, branch, tip)
                    outcome.pushed = True
                    return outcome
                status = _porcelain(res.stdout)
                reasons = {dst: why for dst, (flag, why) in status.items() if flag == "!"}
                taken = [
                    dst.removeprefix("refs/tags/")
                    for dst, why in reasons.items()
                    if dst.startswith("refs/tags/") and _TAG_TAKEN in why
                ]
                for name in taken:
                    skip.add(name)
                    if name.startswith(PROMPT_PREFIX):
                        continue  # the first version of a prompt anywhere keeps the tag
                    outcome.notes.append(
                        f"{name}: {self._where(remote)} already has this tag on another commit "
                        "(the same run recorded on another machine); the remote's tag stands "
                        "and this version was pushed without it"
                    )
                others = [why for dst, why in reasons.items() if _TAG_TAKEN not in why]
                raced = any(any(r in why for r in _RACE) for why in others)
                if reasons and all(
                    _FILLER in why or any(r in why for r in _RACE) for why in others
                ):
                    if raced:
                        outcome.joins += self._join(remote, branch, tip, deadline)
                elif not reasons and _TRANSIENT.search(res.stderr):
                    pass  # the connection failed; try again
                elif not reasons:
                    outcome.unreachable = True
                    outcome.error = (
                        f"cannot reach remote {remote!r}: {_push_failure(res.stderr, '')} "
                        f"(url: {self._url(remote)})"
                    )
                    return outcome
                else:
                    outcome.error = (
                        f"push of {branch} to {self._where(remote)} failed: "
                        f"{_push_failure(res.stderr, res.stdout)}"
                    )
                    return outcome
                if time.monotonic() >= deadline or outcome.attempts >= _MAX_TRIES:
                    outcome.error = (
                        f"push of {branch} to {self._where(remote)} kept losing to other "
                        f"pushes for {timeout} s (push_timeout; the commit is kept locally): "
                        f"{_push_failure(res.stderr, res.stdout)}"
                    )
                    return outcome
                if raced or not reasons:
                    pause = random.uniform(0.02, min(1.0, 0.05 * 2 ** min(outcome.attempts, 5)))
                    time.sleep(min(pause, deadline_left(deadline)))
        except _PushFailed as exc:
            outcome.error = str(exc)
            outcome.unreachable = exc.unreachable
            return outcome

    def _push(
        self, remote: str, refspecs: list[str], deadline: float, *, atomic: bool, step: str
    ) -> GitResult:
        args = [
            "-c",
            f"remote.{remote}.mirror=false",
            "push",
            "--porcelain",
            "--no-follow-tags",
            "--recurse-submodules=no",
        ]
        if atomic:
            args.append("--atomic")
        return self._remote_git(step, remote, [*args, remote, *refspecs], deadline)

    def _remote_git(self, step: str, remote: str, args: list[str], deadline: float) -> GitResult:
        """A git command that talks to the remote, killed (its process group) at the
        deadline; a timeout names the step, the remote, its URL and the limit."""
        res = self.repo.run(args, timeout=deadline_left(deadline), check=False)
        if res.timed_out:
            raise _PushFailed(
                f"{step} to {self._where(remote)} timed out after push_timeout="
                f"{self.config.push_timeout:g} s (the commit is kept locally; run "
                "'artifact-store push' later)",
                unreachable=True,
            )
        return res

    def _where(self, remote: str) -> str:
        """``'origin' (<push URL, credentials redacted>)``."""
        url = self._url(remote)
        return f"{remote!r} ({url})" if url else repr(remote)

    def _url(self, remote: str) -> str:
        """The URL pushes go to, credentials redacted."""
        for key in (f"remote.{remote}.pushurl", f"remote.{remote}.url"):
            res = self.repo.run(["config", "--get", key], check=False)
            if res.returncode == 0 and res.stdout.strip():
                return redact(res.stdout.strip())
        return ""

    def _fetch_source(self, remote: str) -> str:
        """Where the state around a push is read: the push URL when one is set."""
        res = self.repo.run(["config", "--get", f"remote.{remote}.pushurl"], check=False)
        return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else remote

    def _remember(self, remote: str, branch: str, tip: str) -> None:
        """Point the remote-tracking branch at what the remote now has (git does this
        itself only where the remote's fetch refspec covers the branch)."""
        tracking = f"refs/remotes/{remote}/{branch}"
        old = self.repo.resolve([tracking])[0]
        if old != tip:
            self.repo.transaction([(tracking, tip, old)], "artifact-store: pushed")

    # ------------------------------------------------------------------ what a push publishes
    def _ids(self, branch: str) -> tuple[str, str]:
        workflow_id, _, task_id = branch.removeprefix(self.config.branch_prefix + "/").partition(
            "/"
        )
        return workflow_id, task_id

    def _outgoing_tags(self, remote: str, branch: str, tip: str, deadline: float) -> list[str]:
        """Tags of the versions a push of ``tip`` publishes (those the remote is not known
        to have). Refuses, naming them, commits that are neither versions nor joins of
        this task when the remote lacks them: local history that was never scanned."""
        workflow_id, task_id = self._ids(branch)
        known = [
            f"refs/remotes/{remote}/{branch}",
            f"refs/remotes/{remote}/HEAD",
            f"refs/remotes/{remote}/main",
            f"refs/remotes/{remote}/master",
        ]
        negatives = sorted(
            {sha for sha in self.repo.resolve([f"{k}^{{commit}}" for k in known]) if sha}
        )
        unknown = set(self.repo.run(["rev-list", tip, "--not", *negatives]).stdout.split())
        versions: list[Commit] = []
        suspects: list[Commit] = []
        frontier = [tip] if tip in unknown else []
        queued = set(frontier)
        while frontier:
            batch, frontier = frontier[:_OUTGOING_READS], frontier[_OUTGOING_READS:]
            for commit in self.repo.read_commits(batch):
                if not self.store.is_artifact_commit(commit, workflow_id, task_id):
                    suspects.append(commit)
                    continue
                if JOIN_TRAILER not in commit.trailers:
                    versions.append(commit)
                for parent in commit.parents:
                    if parent in unknown and parent not in queued:
                        queued.add(parent)
                        frontier.append(parent)
        if suspects:
            self._refuse_unpublished(remote, branch, suspects, deadline)
        names = [(n, v.sha) for v in versions for n in self.store.tag_names(v)]
        targets = self.repo.resolve([f"refs/tags/{n}^{{commit}}" for n, _ in names])
        return sorted({n for (n, sha), target in zip(names, targets, strict=True) if target == sha})

    def _refuse_unpublished(
        self, remote: str, branch: str, suspects: list[Commit], deadline: float
    ) -> None:
        """Raise unless the remote has every one of ``suspects`` (non-artifact commits)."""
        shas = [c.sha for c in suspects]
        left = set(shas) & set(
            self.repo.run(["rev-list", *shas, "--not", f"--remotes={remote}"]).stdout.split()
        )
        if left:  # this clone may not have fetched lately: ask the remote for its branches
            res = self._remote_git(
                "ls-remote", remote, ["ls-remote", "--heads", self._fetch_source(remote)], deadline
            )
            if res.returncode:
                raise _PushFailed(
                    f"cannot reach remote {remote!r}: {_tail(res.stderr)} "
                    f"(url: {self._url(remote)})",
                    unreachable=True,
                )
            heads = [
                line.split("\t", 1)[0]
                for line in res.stdout.splitlines()
                if "\trefs/heads/" + self.config.branch_prefix + "/" not in line
            ]
            have = [
                sha
                for sha, ok in zip(
                    heads, self.repo.resolve([f"{h}^{{commit}}" for h in heads]), strict=True
                )
                if ok
            ]
            if have:
                left &= set(
                    self.repo.run(["rev-list", *sorted(left), "--not", *have]).stdout.split()
                )
        if left:
            named = [c for c in suspects if c.sha in left]
            shown = ", ".join(f"{c.sha[:12]} {_subject(c)!r}" for c in named[:5])
            more = f" and {len(named) - 5} more" if len(named) > 5 else ""
            raise _PushFailed(
                f"refusing to push {branch} to {self._where(remote)}: it would publish "
                f"{len(named)} commit(s) that are not artifact versions and that the remote "
                f"does not have: {shown}{more}. They are local history the task branch was "
                f"based on, never scanned. Push them to {remote} yourself if they are meant "
                f"to be public, or set base_ref to a commit {remote} has (e.g. {remote}/main) "
                "and recreate the task branch"
            )

    # ------------------------------------------------------------------ join
    def _join(self, remote: str, branch: str, tip: str, deadline: float) -> int:
        """Fetch the remote's task branch and its new versions' tags; join it with
        ``tip`` (a tagless merge commit) unless one contains the other. Returns 1 when
        a join commit was made."""
        tracking = f"refs/remotes/{remote}/{branch}"
        source = self._fetch_source(remote)
        res = self._fetch(remote, source, [f"+refs/heads/{branch}:{tracking}"], deadline)
        if res.returncode:
            if "couldn't find remote ref" in res.stderr:
                return 0  # the remote lacks the branch: a tag or lock race only
            raise _PushFailed(
                f"fetch of {branch} from {self._where(remote)} failed: {_tail(res.stderr)}"
            )
        remote_tip = self.repo.resolve([tracking])[0]
        if remote_tip is None:
            return 0
        self._fetch_tags(remote, source, remote_tip, tip, branch, deadline)
        if remote_tip == tip or self.repo.is_ancestor(remote_tip, tip):
            return 0  # a lock race: the remote has nothing we lack
        if self.repo.is_ancestor(tip, remote_tip):
            new, made = remote_tip, 0  # the remote has all of ours and more
        else:
            new, made = self._write_join(branch, tip, remote_tip), 1
        # a local commit that moved the branch meanwhile wins; the next try joins again
        self.repo.transaction([(f"refs/heads/{branch}", new, tip)], "artifact-store: join")
        return made

    def _fetch(self, remote: str, source: str, refspecs: list[str], deadline: float) -> GitResult:
        args = ["fetch", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no"]
        return self._remote_git("fetch", remote, [*args, source, *refspecs], deadline)

    def _fetch_tags(
        self, remote: str, source: str, remote_tip: str, tip: str, branch: str, deadline: float
    ) -> None:
        """Fetch the tags of the remote's versions that this clone lacks (so they are
        found by correlation id here too); never moves a tag this clone has."""
        workflow_id, task_id = self._ids(branch)
        new = self.repo.run(["rev-list", remote_tip, "--not", tip]).stdout.split()
        names = sorted(
            {
                n
                for c in self.repo.read_commits(new)
                if JOIN_TRAILER not in c.trailers
                and self.store.is_artifact_commit(c, workflow_id, task_id)
                for n in self.store.tag_names(c)
            }
        )
        present = self.repo.resolve([f"refs/tags/{n}" for n in names])
        wanted = [n for n, sha in zip(names, present, strict=True) if sha is None]
        while wanted:
            res = self._fetch(
                remote, source, [f"refs/tags/{n}:refs/tags/{n}" for n in wanted], deadline
            )
            missing = re.findall(r"couldn't find remote ref refs/tags/(\S+)", res.stderr)
            if not res.returncode or not missing:
                return  # fetched, or refused to clobber a tag made here meanwhile
            wanted = [n for n in wanted if n not in missing]

    def _write_join(self, branch: str, tip: str, remote_tip: str) -> str:
        """The join commit of ``remote_tip`` (first parent) and ``tip``: the remote's
        tree with the task directory of the newest version either side holds, by
        commit_timestamp then commit id, so every machine computes the same tree."""
        workflow_id, task_id = self._ids(branch)
        held = []
        for commit in self.repo.read_commits([remote_tip, tip]):
            version = self.store.held_version(commit, workflow_id, task_id)
            order = self.store.version_order(version, task_id) if version else ("", "")
            held.append((order, commit.sha))
        (_, newest), winner = max(held)
        task_dir = self.store.task_dir(task_id)
        if winner == remote_tip:
            root = self.repo.resolve([f"{remote_tip}^{{tree}}"])[0]
        else:
            subtree = self.repo.resolve([f"{tip}:{task_dir}"])[0]
            root = (
                self.store.replace_path(remote_tip, task_dir, subtree)
                if subtree
                else self.repo.resolve([f"{remote_tip}^{{tree}}"])[0]
            )
        assert root is not None
        message = (
            f"join({workflow_id}/{task_id}): versions made concurrently\n\n"
            f"{JOIN_TRAILER}: {workflow_id}/{task_id}\n"
            + (f"{JOIN_VERSION_TRAILER}: {newest}\n" if newest else "")
        ).encode()
        ident = self.store.ident(utc_now())
        return self.repo.write_commit(
            root, [remote_tip, tip], ident, ident, message, sign=self.config.sign_commits
        )


def _no_remote(remote: str) -> str:
    if "/" in remote or ":" in remote:
        return (
            f"remote must be the name of a configured remote, not a URL or path "
            f"({redact(remote)!r}); add it with 'git remote add NAME URL' and pass NAME"
        )
    return f"no remote named {remote!r}; add it with 'git remote add {remote} URL'"


def _subject(commit: Commit) -> str:
    return commit.message.split(b"\n", 1)[0].decode("utf-8", "replace")[:60]


def _porcelain(stdout: str) -> dict[str, tuple[str, str]]:
    """{destination ref: (flag, summary)} from ``git push --porcelain``."""
    status = {}
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1:
            status[parts[1].rsplit(":", 1)[-1]] = (parts[0], parts[2])
    return status


def _tail(text: str) -> str:
    return last_lines(text)


def _push_failure(stderr: str, stdout: str) -> str:
    """git's reason for a failed push: the remote's words, rejections, then errors."""
    said = [ln[7:].strip() for ln in stderr.splitlines() if ln.startswith("remote:")]
    rejected = []
    for line in stdout.splitlines():
        if line.startswith("!"):
            parts = line.split("\t")
            if len(parts) >= 3 and _FILLER not in parts[2]:
                rejected.append(f"{parts[1].split(':')[-1]} {parts[2]}")
    errors = [ln.strip() for ln in stderr.splitlines() if ln.startswith(("error:", "fatal:"))]
    text = " / ".join([s for s in said if s] + rejected[:3] + errors[:2])
    return redact(text) if text else _tail(stderr)
