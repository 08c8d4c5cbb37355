"""ArtifactStore: plan -> scan -> write objects -> one ref transaction -> push.

The public library API of SPEC §2-§6. Git access goes through
:class:`~pytest_artifact_store.gitstore.Repository`; this module decides *what* to
write and when to retry, never *how* git stores it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_artifact_store import naming
from pytest_artifact_store.config import ArtifactStoreConfig
from pytest_artifact_store.errors import ArtifactStoreError, SecretDetectedError
from pytest_artifact_store.gitstore import (
    MODE_EXEC,
    MODE_FILE,
    MODE_TREE,
    Commit,
    Repository,
    TreeEntry,
    blob_json,
)
from pytest_artifact_store.plan import (
    STORE_KEYS,
    ArtifactFile,
    FilesArg,
    check_metadata,
    collect_files,
)
from pytest_artifact_store.timestamps import format_utc, parse_utc, utc_now

if TYPE_CHECKING:  # the scanner and the JSON Schema validator load on first use
    from pytest_artifact_store.secrets import Scanner

SCHEMA_VERSION = 1
MAX_ATTEMPTS = 60
_VOLATILE = ("commit_timestamp", "base_commit")
_TAG_LOOKUPS = 64  # more tags than this: one for-each-ref beats a lookup each
_PASS_THROUGH = 8  # non-version commits in a row that listing walks through on a branch
_TIMESTAMP_TRAILER = "Commit-Timestamp"  # only without metadata.json
# A join commit (SPEC §6) names its task and the version its task directory holds; it
# carries no Workflow-Id/Task-Id trailers, so it is never taken for a version.
JOIN_TRAILER = "Artifact-Join"
JOIN_VERSION_TRAILER = "Artifact-Version"
_TRAILERS = (
    ("Workflow-Id", "workflow_id"),
    ("Task-Id", "task_id"),
    ("Correlation-Id", "correlation_id"),
    ("Prompt-Hash", "prompt_hash"),
    ("Agent-Version", "agent_version"),
    ("LLM-Version", "llm_version"),
)


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


@dataclass
class _Version:
    commit: Commit
    workflow_id: str
    task_id: str
    archived: bool = False


@dataclass
class _Tip:
    ref: str
    sha: str
    archived: bool = False
    also: list[str] = field(default_factory=list)  # the remote-tracking tip, when it differs


@dataclass
class _Plan:
    """A commit request that passed every check: ids, files in memory, their blob ids."""

    workflow_id: str
    task_id: str
    corr_tag: str | None
    phash: str | None
    caller: dict[str, Any]
    artifacts: list[ArtifactFile]
    blob_shas: dict[str, str]
    branch: str

    @property
    def branch_ref(self) -> str:
        return f"refs/heads/{self.branch}"

    # Without a correlation id or prompt hash these name refs that cannot exist.
    @property
    def corr_ref(self) -> str:
        return f"refs/tags/{self.corr_tag or naming.CORR_PREFIX}"

    @property
    def prompt_ref(self) -> str:
        return f"refs/tags/{naming.PROMPT_PREFIX}{self.phash or ''}"

    def ids(self) -> dict[str, str | None]:
        return {
            "workflow_id": self.workflow_id,
            "task_id": self.task_id,
            "correlation_id": self.corr_tag,
            "prompt_hash": self.phash,
        }


class ArtifactStore:
    """Commit, find, roll back and push artifact versions in a git repository."""

    def __init__(self, config: ArtifactStoreConfig | None = None) -> None:
        self.config = config if config is not None else ArtifactStoreConfig()
        if not isinstance(self.config, ArtifactStoreConfig):
            raise ArtifactStoreError("config must be an ArtifactStoreConfig")
        self.repo = Repository(self.config.repo_path)
        self._scanner: Scanner | None = None

    def close(self) -> None:
        self.repo.close()

    def gitpython_repo(self) -> Any:
        """The repository as a GitPython ``git.Repo`` (imported on first call), for
        anything beyond the store's API: ``store.gitpython_repo().git.log(...)``."""
        return self.repo.gitpython()

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ naming
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

    def warm_up(self) -> None:
        """Load the scanner's rules and the metadata validator now rather than at the
        first commit (the pytest plugin runs this in a thread while the tests run)."""
        from pytest_artifact_store.metadata import load_schema

        load_schema()
        if self.config.scan_for_secrets:
            self.scanner.scan_bytes(b"warm up\n", "-")

    @property
    def scanner(self) -> Scanner:
        if self._scanner is None:
            from pytest_artifact_store.secrets import Scanner

            self._scanner = Scanner(self.config.secret_patterns, self.config.extra_secret_patterns)
        return self._scanner

    # ------------------------------------------------------------------ commit
    def commit_artifacts(
        self,
        workflow_id: str,
        task_id: str,
        files: FilesArg,
        metadata: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        prompt_hash: str | None = None,
    ) -> dict[str, Any]:
        plan = self._plan(workflow_id, task_id, files, metadata, correlation_id, prompt_hash)
        lock_waits = 0
        tracking = f"refs/remotes/{self.config.remote_name}/{plan.branch}"
        for attempt in range(MAX_ATTEMPTS):
            tip, corr_target, prompt_target, remote_tip = self.repo.resolve(
                [plan.branch_ref, plan.corr_ref + "^{commit}", plan.prompt_ref, tracking]
            )
            if plan.corr_tag and corr_target is not None:
                return self._existing(corr_target, plan)
            prompt_target = prompt_target if plan.phash else None
            if attempt == 0:  # the first object written: everything was checked
                for a in plan.artifacts:
                    self.repo.write_object(b"blob", a.data, plan.blob_shas[a.name])
            # a task only the remote has so far: build on the remote's tip (SPEC §3)
            parent = tip or remote_tip or self._base_commit()
            commit, meta, tags, updates = self._write_version(plan, tip, parent, prompt_target)
            subject = f"artifact-store: artifacts({workflow_id}/{task_id})"
            error = self.repo.transaction(updates, subject)
            if error is None:
                break
            if "File exists" in error and ".lock" in error:
                lock_waits += 1
                if lock_waits > 20:
                    raise _lock_error(plan.branch_ref, error)
            elif not self._state_changed(plan, tip, prompt_target):
                raise ArtifactStoreError(
                    f"git refused the ref update for {plan.branch_ref}: {error}"
                )
            time.sleep(random.uniform(0, min(0.25, 0.005 * 2 ** min(attempt, 6))))
        else:
            raise ArtifactStoreError(
                f"gave up committing to {plan.branch_ref} after {MAX_ATTEMPTS} attempts: "
                "other writers kept moving the branch; retry later"
            )
        result = {
            "success": True,
            "branch": plan.branch,
            "commit_sha": commit,
            "tags": tags,
            "pushed": False,
            "push_error": None,
            "created": True,
            "files": meta["files"],
        }
        return self._auto_push(result)

    def _plan(
        self,
        workflow_id: str,
        task_id: str,
        files: FilesArg,
        metadata: Mapping[str, Any] | None,
        correlation_id: str | None,
        prompt_hash: str | None,
    ) -> _Plan:
        """Check everything and read every artifact, before a single object is written."""
        cfg = self.config
        naming.check_id("workflow_id", workflow_id)
        naming.check_id("task_id", task_id)
        if correlation_id is None and cfg.require_correlation_id:
            raise ArtifactStoreError(
                "correlation_id is required (require_correlation_id=True); pass the "
                "workflow's correlation id, or set require_correlation_id=False"
            )
        corr_tag = None if correlation_id is None else naming.correlation_tag(correlation_id)
        phash = None if prompt_hash is None else naming.prompt_hash(prompt_hash)
        caller = check_metadata(metadata)
        self._check_owned_keys(caller, workflow_id, task_id, corr_tag, phash)
        status = caller.get("test_status")
        if cfg.require_test_passed and "test_status" in caller and status != "passed":
            raise ArtifactStoreError(
                f"metadata test_status is {status!r}, not 'passed'; refusing to commit a "
                "failing run (set require_test_passed=False to store it anyway)"
            )
        artifacts = collect_files(files, reserved=cfg.metadata_filename, max_size=cfg.max_file_size)
        if cfg.scan_for_secrets:
            findings = [
                f for a in artifacts for f in self.scanner.scan_bytes(a.data, str(a.source))
            ]
            caller_json = json.dumps(caller, indent=2, ensure_ascii=False).encode()
            findings += self.scanner.scan_bytes(caller_json, "metadata")
            if findings:
                raise SecretDetectedError(findings)
        plan = _Plan(
            workflow_id,
            task_id,
            corr_tag,
            phash,
            caller,
            artifacts,
            {a.name: self.repo.hash_object(b"blob", a.data) for a in artifacts},
            self.branch_for(workflow_id, task_id),
        )
        if cfg.include_metadata:
            from pytest_artifact_store.metadata import conforms, validate_metadata

            meta = self._build_metadata(plan, utc_now(), None)
            # the fast check says yes for valid metadata; jsonschema gives the verdict
            # (and the problems) otherwise
            problems = [] if conforms(meta) else validate_metadata(meta)
            if problems:
                raise ArtifactStoreError("invalid metadata: " + "; ".join(problems))
        return plan

    def _write_version(
        self, plan: _Plan, tip: str | None, parent: str | None, prompt_target: str | None
    ) -> tuple[str, dict[str, Any], list[str], list[tuple[str, str, str | None]]]:
        """Write the version's trees, commit and tags on top of ``parent``; return the
        commit, its metadata, tag names and the ref updates (the branch moves from
        ``tip``) to apply."""
        cfg = self.config
        now = utc_now()
        meta = self._build_metadata(plan, now, parent)
        entries = {
            a.name: (MODE_EXEC if a.executable else MODE_FILE, plan.blob_shas[a.name])
            for a in plan.artifacts
        }
        if cfg.include_metadata:
            meta_bytes = (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode()
            entries[cfg.metadata_filename] = (
                MODE_FILE,
                self.repo.write_object(b"blob", meta_bytes),
            )
        root_tree = self.replace_path(
            parent, self.task_dir(plan.task_id), self._write_nested(entries)
        )
        message = self._message(plan, now)
        ident = self.ident(now)
        sign = cfg.sign_commits
        commit = self.repo.write_commit(
            root_tree, [parent] if parent else [], ident, ident, message, sign=sign
        )
        updates: list[tuple[str, str, str | None]] = [(plan.branch_ref, commit, tip)]
        tags = []
        if plan.corr_tag:
            subject = message.split(b"\n", 1)[0] + b"\n"
            tag = self.repo.write_tag(commit, plan.corr_tag, ident, subject, sign=sign)
            updates.append((plan.corr_ref, tag, None))
            tags.append(plan.corr_tag)
        if plan.phash and prompt_target is None:
            name = plan.prompt_ref.removeprefix("refs/tags/")
            task = f"{plan.workflow_id}/{plan.task_id}"
            text = f"first artifact built from prompt {plan.phash}: {task}\n"
            tag = self.repo.write_tag(commit, name, ident, text.encode(), sign=sign)
            updates.append((plan.prompt_ref, tag, None))
            tags.append(name)
        return commit, meta, tags, updates

    def _check_owned_keys(
        self,
        caller: Mapping[str, Any],
        workflow_id: str,
        task_id: str,
        corr_tag: str | None,
        phash: str | None,
    ) -> None:
        ours: dict[str, Any] = {
            "workflow_id": workflow_id,
            "task_id": task_id,
            "correlation_id": corr_tag,
            "prompt_hash": phash,
            "schema_version": SCHEMA_VERSION,
        }
        for key in STORE_KEYS:
            if key not in caller:
                continue
            value = caller[key]
            if key == "correlation_id" and isinstance(value, str) and corr_tag:
                with contextlib.suppress(ArtifactStoreError):
                    value = naming.correlation_tag(value)
            if key == "prompt_hash" and isinstance(value, str) and phash:
                with contextlib.suppress(ArtifactStoreError):
                    value = naming.prompt_hash(value)
            if key not in ours or value != ours[key]:
                raise ArtifactStoreError(
                    f"metadata key {key!r} is owned by the store"
                    + (f" and differs from its value {ours[key]!r}" if key in ours else "")
                    + "; remove it from metadata (pass ids as arguments)"
                )

    def _build_metadata(self, plan: _Plan, now: datetime, parent: str | None) -> dict[str, Any]:
        cfg = self.config
        task_dir = self.task_dir(plan.task_id)
        files = [f"{task_dir}/{a.name}" for a in plan.artifacts]
        if cfg.include_metadata:
            files.append(f"{task_dir}/{cfg.metadata_filename}")
        meta: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            **plan.ids(),
            "commit_timestamp": format_utc(now),
            "agent_version": plan.caller.get("agent_version"),
            "llm_version": plan.caller.get("llm_version"),
            "test_metrics": plan.caller.get("test_metrics", {}),
            "files": files,
            "file_sha256": {a.name: _sha256(a.data) for a in plan.artifacts},
            "base_commit": parent,
        }
        for key, value in plan.caller.items():
            meta.setdefault(key, value)
        return meta

    def _message(self, plan: _Plan, now: datetime) -> bytes:
        """Subject ``artifacts(<workflow>/<task>): <corr tag>`` and the SPEC §3 trailers.

        Without metadata.json the trailers are the only record, so they also carry the
        microsecond commit_timestamp that orders versions made within one second."""
        subject = f"artifacts({plan.workflow_id}/{plan.task_id})"
        if plan.corr_tag:
            subject += f": {plan.corr_tag}"
        values = {
            **plan.ids(),
            "agent_version": plan.caller.get("agent_version"),
            "llm_version": plan.caller.get("llm_version"),
        }
        trailers = [
            f"{name}: {_one_line(values[key])[:200]}"
            for name, key in _TRAILERS
            if values[key] not in (None, "") and _one_line(values[key])
        ]
        if not self.config.include_metadata:
            trailers.append(f"{_TIMESTAMP_TRAILER}: {format_utc(now)}")
        return (subject + "\n\n" + "\n".join(trailers) + "\n").encode()

    def _base_commit(self) -> str | None:
        """The parent of a task branch's first commit (SPEC §3): base_ref, else the
        remote's default branch when this clone knows it, else HEAD (None when empty)."""
        base = self.config.base_ref
        if base is None:
            remote = f"refs/remotes/{self.config.remote_name}"
            names = [f"{remote}/HEAD", f"{remote}/main", f"{remote}/master", "HEAD"]
            found = self.repo.resolve([f"{n}^{{commit}}" for n in names])
            return next((sha for sha in found if sha), None)
        sha = self.repo.resolve([f"{base}^{{commit}}"])[0]
        if sha is None:
            raise ArtifactStoreError(
                f"base_ref {base!r} does not name a commit in {self.repo.cwd}; use a branch, "
                "tag or sha that exists (or None for HEAD)"
            )
        return sha

    def _state_changed(self, plan: _Plan, tip: str | None, prompt_target: str | None) -> bool:
        """Did another writer move what a refused transaction depended on?"""
        now_tip, now_corr, now_prompt = self.repo.resolve(
            [plan.branch_ref, plan.corr_ref, plan.prompt_ref]
        )
        return (
            now_tip != tip
            or (plan.corr_tag is not None and now_corr is not None)
            or (plan.phash is not None and (now_prompt is None) != (prompt_target is None))
        )

    def _existing(self, commit_sha: str, plan: _Plan) -> dict[str, Any]:
        """An idempotent repeat returns the existing commit; different content is an error."""
        commit = self.repo.read_commit(commit_sha)
        differs = None
        if commit is None:
            differs = "its commit is missing"
        elif (commit.trailers.get("Workflow-Id"), commit.trailers.get("Task-Id")) != (
            plan.workflow_id,
            plan.task_id,
        ):
            differs = (
                f"it names {commit.trailers.get('Workflow-Id')}/{commit.trailers.get('Task-Id')}"
            )
        else:
            stored = self.repo.ls_tree_blobs(f"{commit.sha}:{self.task_dir(plan.task_id)}")
            stored_meta = stored.pop(self.config.metadata_filename, None)
            if stored != plan.blob_shas:
                differs = "its files differ"
            elif stored_meta is not None:
                ours = self._build_metadata(plan, utc_now(), None)
                if _content(self._load_metadata(stored_meta)) != _content(ours):
                    differs = "its metadata differs"
        if differs or commit is None:
            raise ArtifactStoreError(
                f"correlation id {plan.corr_tag} is already used by commit {commit_sha[:12]} "
                f"and {differs}; use a new correlation id for a new artifact version"
            )
        entry = self._entry(_Version(commit, plan.workflow_id, plan.task_id))
        result = {
            "success": True,
            "branch": plan.branch,
            "commit_sha": commit.sha,
            "tags": entry["tags"],
            "pushed": False,
            "push_error": None,
            "created": False,
            "files": entry.get("files", []),
        }
        return self._auto_push(result)

    def _load_metadata(self, blob: str) -> dict[str, Any] | None:
        return self.repo.read_json_many([blob])[0]

    # ------------------------------------------------------------------ trees
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

    # ------------------------------------------------------------------ reading
    def _branches(
        self, workflow_id: str | None, task_id: str | None, archived: bool, tracking: bool = True
    ) -> dict[tuple[str, str], _Tip]:
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
        found: dict[tuple[str, str], _Tip] = {}
        remote: dict[tuple[str, str], tuple[str, str]] = {}
        archived_here: set[tuple[str, str]] = set()
        for line in self.repo.for_each_ref(patterns, "%(objectname) %(refname)"):
            sha, ref = line.split(" ", 1)
            space = next(s for s in spaces if ref.startswith(s))
            parts = ref[len(space) :].removeprefix(prefix + "/").split("/")
            if len(parts) != 2 or (task_id is not None and parts[1] != task_id):
                continue
            key = (parts[0], parts[1])
            if space == remote_space:
                remote[key] = (ref, sha)
            elif space == "refs/archive/":
                archived_here.add(key)
                if archived and (key not in found or found[key].archived):
                    found[key] = _Tip(ref, sha, True)
            else:
                found[key] = _Tip(ref, sha)
        for key, (ref, sha) in remote.items():
            tip = found.get(key)
            if tip is not None:
                if sha != tip.sha:
                    tip.also.append(sha)
            elif key not in archived_here:
                found[key] = _Tip(ref, sha)
        return found

    def _versions(
        self,
        tips: Mapping[tuple[str, str], _Tip],
        cached: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> Iterator[_Version]:
        """Artifact commits of the given task branches, newest first, stopping at bases
        (walked from the repository's cache, already loaded as ``cached``, if given).

        Join commits (SPEC §6) are walked through on every parent. A branch may hold
        commits that are not versions (someone committed on it by hand): the walk
        passes through up to _PASS_THROUGH of them in a row, along first parents,
        before it takes the last version it saw as the start of the branch.
        """
        budget = {sha: _PASS_THROUGH for tip in tips.values() for sha in [tip.sha, *tip.also]}
        wanted = set(budget)
        seen: set[str] = set()
        walk = self.repo.walk if cached is None else partial(self.repo.walk_cached, cached=cached)
        for commit in walk(sorted(wanted)):
            seen.add(commit.sha)
            wanted.discard(commit.sha)
            key = (commit.trailers.get("Workflow-Id", ""), commit.trailers.get("Task-Id", ""))
            tip = tips.get(key)
            if tip is not None:
                yield _Version(commit, key[0], key[1], tip.archived)
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
            meta = self._from_trailers(_Version(commit, "", task_id))
        return (_sort_key(meta), sha)

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
            return self._list(tips, limit, phash)
        everything = workflow_id is None and task_id is None and phash is None
        with _gc_paused():  # ~10k small dicts: the cyclic GC would rescan them many times
            return self._list(tips, limit, phash, everything)

    def _list(
        self,
        tips: Mapping[tuple[str, str], _Tip],
        limit: int | None,
        phash: str | None,
        everything: bool = False,
    ) -> list[dict[str, Any]]:
        picked: list[_Version] = []
        metadata: list[dict[str, Any] | None] = []
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
        metadata += self._read_metadata(picked[len(metadata) :], cached)
        targets = None
        if limit is None:
            lister.join()
            targets = tags
        entries = self._entries(picked, metadata, targets)
        entries.sort(key=_sort_key, reverse=True)
        return entries if limit is None else entries[:limit]

    def get_artifact_by_correlation_id(self, correlation_id: str) -> dict[str, Any] | None:
        try:
            tag = naming.correlation_tag(correlation_id)
        except ArtifactStoreError:
            return None
        commit = self.repo.read_commit(f"refs/tags/{tag}")
        if commit is None:
            return None
        workflow_id = commit.trailers.get("Workflow-Id")
        task_id = commit.trailers.get("Task-Id")
        if not workflow_id or not task_id:
            return None
        # the tag was just resolved to this commit: no second lookup of it
        return self._entries([_Version(commit, workflow_id, task_id)], known={tag: commit.sha})[0]

    def find_version(self, ref: str) -> dict[str, Any] | None:
        """The artifact version a user names: a correlation id (with or without
        ``corr_``), a tag, a task branch (full, or ``<workflow>/<task>``), or a commit.
        None if it names nothing, or a commit that is not an artifact version."""
        if not isinstance(ref, str) or not ref or any(c in ref for c in "\n\0"):
            return None
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
        for sha in self.repo.resolve([f"{c}^{{commit}}" for c in candidates]):
            if sha is None:
                continue
            commit = self.repo.read_commit(sha)
            if commit is None:
                continue
            workflow_id = commit.trailers.get("Workflow-Id")
            task_id = commit.trailers.get("Task-Id")
            if workflow_id and task_id:
                branch_ref = f"refs/heads/{self.branch_for(workflow_id, task_id)}"
                archived = not self.repo.is_ancestor(
                    commit.sha, branch_ref
                ) and self.repo.is_ancestor(
                    commit.sha, f"refs/archive/{self.branch_for(workflow_id, task_id)}"
                )
                return self._entry(_Version(commit, workflow_id, task_id, archived))
        return None

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

    def _entry(self, version: _Version) -> dict[str, Any]:
        return self._entries([version])[0]

    def _read_metadata(
        self,
        versions: list[_Version],
        cached: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> list[dict[str, Any] | None]:
        return self.repo.read_json_many(self._metadata_names(versions), cached)

    def _metadata_names(self, versions: list[_Version], by_tree: bool = False) -> list[str]:
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
        versions: list[_Version],
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
        if names is not None and len(names) <= _TAG_LOOKUPS:
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

    def _from_trailers(self, v: _Version) -> dict[str, Any]:
        t = v.commit.trailers
        entry: dict[str, Any] = {key: t.get(name) for name, key in _TRAILERS}
        entry["workflow_id"], entry["task_id"] = v.workflow_id, v.task_id
        stamp = t.get(_TIMESTAMP_TRAILER)
        if parse_utc(stamp) is None:  # an older commit: whole seconds from git
            stamp = datetime.fromtimestamp(v.commit.commit_time, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        entry["commit_timestamp"] = stamp
        return entry

    # ------------------------------------------------------------------ rollback
    def revert_to_tag(self, tag: str, target_branch: str = "main") -> dict[str, Any]:
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
        if commit is None:
            raise ArtifactStoreError(
                f"unknown tag {tag!r}: no tag {tag!r} or corr_{tag} in this repository"
            )
        workflow_id = commit.trailers.get("Workflow-Id")
        task_id = commit.trailers.get("Task-Id")
        if not workflow_id or not task_id:
            raise ArtifactStoreError(f"tag {name!r} does not point at an artifact commit")
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
            now = utc_now()
            ident = self.ident(now)
            root = self.replace_path(tip, task_dir, subtree)
            message = (
                f"revert({workflow_id}/{task_id}): restore {name}\n\n"
                f"Restores {task_dir}/ to artifact commit {commit.sha}.\n\n"
                f"Reverted-To: {name}\nReverted-Commit: {commit.sha}\n"
            ).encode()
            new = self.repo.write_commit(
                root, [tip], ident, ident, message, sign=self.config.sign_commits
            )
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
        return {"success": True, "commit_sha": new, "reverted_to": name, "branch": target_branch}

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
                "raise max_rollback_depth to go further back"
            )

    # ------------------------------------------------------------------ push
    def _auto_push(self, result: dict[str, Any]) -> dict[str, Any]:
        """Push after a commit (auto_push); the result gains ``pushed``/``push_error``
        and, when the remote kept a tag of its own, ``push_notes`` saying so."""
        from pytest_artifact_store.push import Pusher

        outcome = Pusher(self).after_commit(result["branch"])
        result["pushed"], result["push_error"] = outcome.pushed, outcome.error
        if outcome.notes:
            result["push_notes"] = outcome.notes
        return result

    def push_pending(
        self, remote: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Push every artifact branch and tag the remote lacks (SPEC §6).

        Returns ``{'success', 'remote', 'pushed': [branches], 'up_to_date': [branches],
        'errors': {branch: reason}}``.
        """
        from pytest_artifact_store.push import Pusher

        return Pusher(self).push_pending(remote, timeout)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _lock_error(ref: str, error: str) -> ArtifactStoreError:
    lock = re.search(r"'([^']+\.lock)'", error)
    return ArtifactStoreError(
        f"cannot update {ref}: lock file {lock.group(1) if lock else '(unknown)'} exists. "
        "Another git process may be writing; if none is running, remove that file and retry."
    )


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _content(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if meta is None:
        return None
    return {k: v for k, v in meta.items() if k not in _VOLATILE}


def _peeled_tag(name: str) -> str:
    return f"refs/tags/{name}^{{commit}}"


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


def _sort_key(entry: Mapping[str, Any]) -> str:
    """commit_timestamp as a string that sorts in time order (fraction optional)."""
    stamp = entry.get("commit_timestamp")
    if not isinstance(stamp, str):
        return ""
    return stamp[:-1] + ".000000Z" if len(stamp) == 20 and stamp.endswith("Z") else stamp


def open_store(repo_path: Path | str | None = None, **overrides: Any) -> ArtifactStore:
    """Shorthand used by the CLI: a store on ``repo_path`` with config overrides."""
    cfg = ArtifactStoreConfig(repo_path=Path(repo_path) if repo_path else Path.cwd(), **overrides)
    return ArtifactStore(cfg)
