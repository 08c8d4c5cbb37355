"""Remote push (SPEC §6): one atomic, unforced push of a task branch and its new tags,
killed with its process group at the deadline; replay onto a remote branch that moved.

Only ``<branch_prefix>/*`` branches and ``corr_``/``prompt_`` tags are ever pushed. A
failure never loses the local commit: it becomes ``pushed: False`` plus the reason.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.gitstore import deadline_left, last_lines, redact
from pytest_artifact_store.store import ArtifactStore, _Tip, _Version
from pytest_artifact_store.timestamps import utc_now

_REJECTED = re.compile(r"\[rejected\]|\(fetch first\)|non-fast-forward|stale info", re.I)


class Pusher:
    """Pushes a store's artifact branches and tags to one of its remotes."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.repo = store.repo
        self.config = store.config

    def after_commit(self, branch: str) -> tuple[bool, str | None]:
        if not self.config.auto_push:
            return False, "auto_push is off"
        remote = self.config.remote_name
        if not self.repo.remote_exists(remote):
            return False, f"no remote named {remote!r}; add it with 'git remote add {remote} URL'"
        return self.push_branch(remote, branch, self.config.push_timeout)

    def push_pending(
        self, remote: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Push every artifact branch and tag the remote lacks (SPEC §6).

        Returns ``{'success', 'remote', 'pushed': [branches], 'up_to_date': [branches],
        'errors': {branch: reason}}``.
        """
        remote = remote or self.config.remote_name
        timeout = self.config.push_timeout if timeout is None else timeout
        if not self.repo.remote_exists(remote):
            raise ArtifactStoreError(
                f"no remote named {remote!r}; add it with 'git remote add {remote} URL'"
            )
        prefix = self.config.branch_prefix
        local = {
            line.split(" ", 1)[1]: line.split(" ", 1)[0]
            for line in self.repo.for_each_ref(
                [f"refs/heads/{prefix}/"], "%(objectname) %(refname)"
            )
        }
        remote_refs = self._ls_remote(
            remote, [f"refs/heads/{prefix}/*"], time.monotonic() + timeout
        )
        result: dict[str, Any] = {
            "success": True,
            "remote": remote,
            "pushed": [],
            "up_to_date": [],
            "errors": {},
        }
        for ref, sha in sorted(local.items()):
            branch = ref.removeprefix("refs/heads/")
            try:
                missing_tags = self._tags_remote_lacks(
                    remote, branch, sha, None, time.monotonic() + timeout
                )
            except _PushFailed as exc:
                result["errors"][branch] = str(exc)
                result["success"] = False
                continue
            if remote_refs.get(ref) == sha and not missing_tags:
                result["up_to_date"].append(branch)
                continue
            ok, error = self.push_branch(remote, branch, timeout)
            if ok:
                result["pushed"].append(branch)
            else:
                result["errors"][branch] = error
                result["success"] = False
        return result

    def _ls_remote(self, remote: str, patterns: list[str], deadline: float) -> dict[str, str]:
        res = self.repo.run(
            ["ls-remote", remote, *patterns], timeout=deadline_left(deadline), check=False
        )
        if res.timed_out:
            raise _PushFailed(f"ls-remote {remote} timed out")
        if res.returncode:
            raise _PushFailed(f"cannot reach remote {remote!r}: {_tail(res.stderr)}")
        refs = {}
        for line in res.stdout.splitlines():
            sha, _, ref = line.partition("\t")
            refs[ref] = sha
        return refs

    def _tags_remote_lacks(
        self, remote: str, branch: str, tip: str, remote_tip: str | None, deadline: float
    ) -> list[str]:
        """corr_/prompt_ tags of this branch's versions that the remote does not have."""
        workflow_id, task_id = branch.removeprefix(self.config.branch_prefix + "/").split("/", 1)
        candidates = []
        for version in self.store._versions(
            {(workflow_id, task_id): _Tip(f"refs/heads/{branch}", tip)}
        ):
            if version.commit.sha == remote_tip:
                break
            candidates.append(version)
        entries = self.store._entries(candidates)
        tags = [t for e in entries for t in e["tags"]]
        if not tags:
            return []
        have = self._ls_remote(remote, [f"refs/tags/{t}" for t in tags], deadline)
        return [t for t in tags if f"refs/tags/{t}" not in have]

    def push_branch(self, remote: str, branch: str, timeout: float) -> tuple[bool, str | None]:
        deadline = time.monotonic() + timeout
        ref = f"refs/heads/{branch}"
        last_error = "no attempt made"
        try:
            for attempt in range(6):
                tip = self.repo.resolve([ref])[0]
                if tip is None:
                    return False, f"branch {branch} does not exist locally"
                remote_tip = self._ls_remote(remote, [ref], deadline).get(ref)
                if remote_tip and remote_tip != tip and not self.repo.is_ancestor(remote_tip, tip):
                    tip = self._replay_onto_remote(remote, branch, tip, deadline)
                    remote_tip = self.repo.resolve([f"refs/remotes/{remote}/{branch}"])[0]
                tags = self._tags_remote_lacks(remote, branch, tip, remote_tip, deadline)
                if remote_tip == tip and not tags:
                    return True, None
                refspecs = [f"{tip}:{ref}"] + [f"refs/tags/{t}:refs/tags/{t}" for t in tags]
                res = self.repo.run(
                    ["push", "--atomic", "--porcelain", remote, *refspecs],
                    timeout=deadline_left(deadline),
                    check=False,
                )
                if res.timed_out:
                    kept = "the commit is kept locally"
                    return False, f"push to {remote!r} timed out after {timeout} s ({kept})"
                if res.returncode == 0:
                    return True, None
                last_error = _push_failure(res.stderr, res.stdout)
                if not _REJECTED.search(res.stderr + res.stdout) or time.monotonic() > deadline:
                    return False, f"push to {remote!r} failed: {last_error}"
                time.sleep(random.uniform(0.05, 0.2 * 2**attempt))
        except _PushFailed as exc:
            return False, str(exc)
        return False, f"push to {remote!r} kept being rejected: {last_error}"

    def _replay_onto_remote(self, remote: str, branch: str, tip: str, deadline: float) -> str:
        """Rebuild every local version the remote lacks on top of the remote's tip."""
        tracking = f"refs/remotes/{remote}/{branch}"
        res = self.repo.run(
            [
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                remote,
                f"+refs/heads/{branch}:{tracking}",
            ],
            timeout=deadline_left(deadline),
            check=False,
        )
        if res.returncode or res.timed_out:
            raise _PushFailed(
                f"cannot fetch {branch} from {remote!r}: {_tail(res.stderr) or 'timed out'}"
            )
        remote_tip = self.repo.resolve([tracking])[0]
        assert remote_tip is not None
        workflow_id, task_id = branch.removeprefix(self.config.branch_prefix + "/").split("/", 1)
        out = self.repo.run(
            ["rev-list", "--reverse", "--topo-order", tip, f"^{remote_tip}"]
        ).stdout.split()
        commits = [
            c
            for c in self.repo.read_commits(out)
            if (c.trailers.get("Workflow-Id"), c.trailers.get("Task-Id")) == (workflow_id, task_id)
        ]
        task_dir = self.store.task_dir(task_id)
        parent = remote_tip
        moved: dict[str, str] = {}
        for c in commits:
            subtree = self.repo.resolve([f"{c.sha}:{task_dir}"])[0]
            if subtree is None:
                continue
            root = self.store._replace_path(parent, task_dir, subtree)
            parent = self.repo.write_commit(
                root, [parent], c.author, c.committer, c.message, sign=self.config.sign_commits
            )
            moved[c.sha] = parent
        updates: list[tuple[str, str, str | None]] = [(f"refs/heads/{branch}", parent, tip)]
        entries = self.store._entries([_Version(c, workflow_id, task_id) for c in commits])
        tag_names = [t for e in entries for t in e["tags"]]
        have = (
            self._ls_remote(remote, [f"refs/tags/{t}" for t in tag_names], deadline)
            if tag_names
            else {}
        )
        ident = self.store._ident(utc_now())
        for entry in entries:
            for name in entry["tags"]:
                if f"refs/tags/{name}" in have:
                    continue  # the remote's tag stands; never move or force it
                old = self.repo.resolve([f"refs/tags/{name}"])[0]
                message = f"{name}: replayed onto {remote}/{branch}\n".encode()
                new_tag = self.repo.write_tag(
                    moved[entry["commit_sha"]], name, ident, message, sign=self.config.sign_commits
                )
                updates.append((f"refs/tags/{name}", new_tag, old))
        error = self.repo.transaction(updates, f"artifact-store: replay {branch} onto {remote}")
        if error is not None:
            raise _PushFailed(f"local refs moved while replaying onto {remote}: {error}")
        return parent


class _PushFailed(ArtifactStoreError):
    """A push step failed; _push_branch turns it into ``pushed: False``."""


def _tail(text: str) -> str:
    return last_lines(text)


def _push_failure(stderr: str, stdout: str) -> str:
    """git's reason for a failed push: the remote's words, rejections, then errors."""
    said = [ln[7:].strip() for ln in stderr.splitlines() if ln.startswith("remote:")]
    rejected = []
    for line in stdout.splitlines():
        if line.startswith("!"):
            parts = line.split("\t")
            if len(parts) >= 3:
                rejected.append(f"{parts[1].split(':')[-1]} {parts[2]}")
    errors = [ln.strip() for ln in stderr.splitlines() if ln.startswith(("error:", "fatal:"))]
    text = " / ".join([s for s in said if s] + rejected[:3] + errors[:2])
    return redact(text) if text else _tail(stderr)
