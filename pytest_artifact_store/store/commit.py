"""Committing a version: plan (every check, every file read) -> scan -> objects -> ONE
ref transaction (branch + tags, compare-and-swap, retried when another writer won)."""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError, SecretDetectedError
from pytest_artifact_store.git import (
    MODE_EXEC,
    MODE_FILE,
)
from pytest_artifact_store.store.base import MAX_ATTEMPTS, TIMESTAMP_TRAILER, TRAILERS
from pytest_artifact_store.store.history import History, Version
from pytest_artifact_store.store.plan import (
    STORE_KEYS,
    ArtifactFile,
    FilesArg,
    check_metadata,
    collect_files,
)
from pytest_artifact_store.timestamps import format_utc, utc_now

SCHEMA_VERSION = 1


_VOLATILE = ("commit_timestamp", "base_commit")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _reflog_subject(workflow_id: str, task_id: str) -> str:
    return f"artifact-store: artifacts({workflow_id}/{task_id})"


def metadata_bytes(meta: dict[str, Any]) -> bytes:
    """metadata.json as the store writes it (non-ASCII characters kept, no ``\\u``)."""
    return (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode()


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
    volatile: frozenset[str] = frozenset()  # what a repeat may change (commit_artifacts)

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


class Committing(History):
    """commit_artifacts and what it needs."""

    def warm_up(self, workflow_id: str | None = None, task_id: str | None = None) -> None:
        """Load the scanner's rules and the metadata validator, and start the git reader
        (and, given the task, the ref updater its commit will use), now rather than at
        the first commit. The pytest plugin runs this in a thread while the tests run:
        starting git is mostly waiting, which overlaps them."""
        from pytest_artifact_store.metadata import load_schema

        self.repo.resolve(["HEAD"])
        if workflow_id and task_id:
            self.repo.prepare_transaction(_reflog_subject(workflow_id, task_id))
        load_schema()
        if self.config.scan_for_secrets:
            self.scanner.warm_up()

    def commit_artifacts(
        self,
        workflow_id: str,
        task_id: str,
        files: FilesArg,
        metadata: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        prompt_hash: str | None = None,
        *,
        volatile: Collection[str] = (),
    ) -> dict[str, Any]:
        """Commit one artifact version (SPEC §2). ``volatile``: names of files and
        metadata keys that may differ when a run is repeated with the same correlation id
        (a generated report's durations, a comparison with a baseline; ``outer.inner``
        names one key of a mapping, e.g. ``test_metrics.duration_seconds``): a repeat that
        differs only there is an idempotent repeat, returning the version made first."""
        self.check_sinks()
        plan = self._plan(workflow_id, task_id, files, metadata, correlation_id, prompt_hash)
        plan.volatile = frozenset(volatile)
        with self.repo.packing():
            commit, meta, tags = self._land(plan)
        if meta is None:  # the correlation id is taken: an idempotent repeat, or an error
            return self._existing(commit, plan)
        self.last_commit = commit  # landed: whatever happens to the push
        self.repo.maintain()
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
        return self._auto_push(result, meta)

    def _land(self, plan: _Plan) -> tuple[str, dict[str, Any] | None, list[str]]:
        """Write the version (its objects as one pack) and move the branch and tags in
        one transaction, retrying when another writer won.
        (commit, None, []) when the correlation id already names ``commit``."""
        workflow_id, task_id = plan.workflow_id, plan.task_id
        lock_waits = refusals = 0
        tracking = f"refs/remotes/{self.config.remote_name}/{plan.branch}"
        for attempt in range(MAX_ATTEMPTS):
            names = [plan.branch_ref, plan.corr_ref + "^{commit}", plan.prompt_ref, tracking]
            # after a refusal, ask a new git process (a reader may hold refs being packed)
            read = self.repo.refs_now if attempt else self.repo.resolve
            tip, corr_target, prompt_target, remote_tip = read(names)
            if plan.corr_tag and corr_target is not None:
                return corr_target, None, []
            prompt_target = prompt_target if plan.phash else None
            if attempt == 0:  # the first object written: everything was checked
                self.repo.write_blobs([(a.data, plan.blob_shas[a.name]) for a in plan.artifacts])
            # a task only the remote has so far: build on the remote's tip (SPEC §3)
            parent = tip or remote_tip or self._base_commit()
            commit, meta, tags, updates = self._write_version(plan, tip, parent, prompt_target)
            subject = _reflog_subject(workflow_id, task_id)
            self.repo.flush()
            error = self.repo.transaction(updates, subject)
            if error is None:
                return commit, meta, tags
            if "nonexistent object" in error:  # a `git gc --prune=now` took the pack
                self.repo.flush(again=True)
            elif "File exists" in error and ".lock" in error:
                lock_waits += 1
                if lock_waits > 20:
                    raise _lock_error(plan.branch_ref, error)
            elif not self._state_changed(plan, tip, prompt_target):
                refusals += 1  # e.g. `git pack-refs` moving refs as we read them
                if refusals > 3:
                    raise ArtifactStoreError(
                        f"git refused the ref update for {plan.branch_ref}: {error}"
                        + _remedy(error)
                    )
            time.sleep(random.uniform(0, min(0.25, 0.005 * 2 ** min(attempt, 6))))
        raise ArtifactStoreError(
            f"gave up committing to {plan.branch_ref} after {MAX_ATTEMPTS} attempts: "
            "other writers kept moving the branch; retry later"
        )

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
        try:
            artifacts = collect_files(
                files, reserved=cfg.metadata_filename, max_size=cfg.max_file_size
            )
        except ArtifactStoreError as exc:  # it names a file: never print a key in its name
            if not cfg.scan_for_secrets:
                raise
            from pytest_artifact_store.scan import mask_secrets

            raise ArtifactStoreError(mask_secrets(str(exc))) from None
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
        meta = self._build_metadata(plan, utc_now(), None) if cfg.include_metadata else None
        if cfg.scan_for_secrets:
            # the files, their names, and the metadata the store writes (which holds the
            # names, the caller's keys and the ids) -- before anything can echo a value
            scanner = self.scanner
            findings = [f for a in artifacts for f in scanner.scan_name(a.name)]
            findings += [f for a in artifacts for f in scanner.scan_bytes(a.data, str(a.source))]
            # the metadata as it is written, but for the digests the store computes of
            # the files (scanned above): ``"auth.py": "<sha256>"`` is no secret
            shown = meta if meta is not None else caller
            owned = metadata_bytes({k: v for k, v in shown.items() if k != "file_sha256"})
            where = f"{self.task_dir(task_id)}/{cfg.metadata_filename}"
            for label, ident in (
                ("workflow_id", workflow_id),
                ("task_id", task_id),
                ("correlation_id", correlation_id),
                ("prompt_hash", prompt_hash),
            ):  # also when no metadata is written: they name branches and tags
                if ident:
                    findings += [replace(f, path=label) for f in scanner.scan_name(ident)]
            findings += scanner.scan_bytes(owned, where)
            if findings:
                raise SecretDetectedError(findings)
        if meta is not None:
            from pytest_artifact_store.metadata import conforms, validate_metadata

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
            meta_bytes = metadata_bytes(meta)
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
            for name, key in TRAILERS
            if values[key] not in (None, "") and _one_line(values[key])
        ]
        if not self.config.include_metadata:
            trailers.append(f"{TIMESTAMP_TRAILER}: {format_utc(now)}")
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
        now_tip, now_corr, now_prompt = self.repo.refs_now(
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
            said = []
            files = _differing(stored, plan.blob_shas, plan.volatile)
            if files:
                said.append(f"its files differ: {', '.join(files)}")
            if stored_meta is not None:
                ours = self._build_metadata(plan, utc_now(), None)
                theirs = _content(self._load_metadata(stored_meta), plan.volatile) or {}
                keys = _differing(theirs, _content(ours, plan.volatile) or {}, ())
                keys = [k for k in keys if not k.startswith(("file_sha256.", "files "))]
                if keys:
                    said.append(f"its metadata differs: {', '.join(keys)}")
            differs = "; ".join(said) or None
        if differs or commit is None:
            raise ArtifactStoreError(
                f"correlation id {plan.corr_tag} is already used by commit {commit_sha[:12]} "
                f"and {differs}; use a new correlation id for a new artifact version"
            )
        self.last_commit = commit.sha
        entry = self._entry(Version(commit, plan.workflow_id, plan.task_id))
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
        return self._auto_push(result, entry)

    def _load_metadata(self, blob: str) -> dict[str, Any] | None:
        return self.repo.read_json_many([blob])[0]

    def _auto_push(self, result: dict[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
        """After a commit: the façade pushes and publishes events (see :class:`ArtifactStore`)."""
        return result


def _lock_error(ref: str, error: str) -> ArtifactStoreError:
    lock = re.search(r"'([^']+\.lock)'", error)
    return ArtifactStoreError(
        f"cannot update {ref}: lock file {lock.group(1) if lock else '(unknown)'} exists. "
        "Another git process may be writing; if none is, 'artifact-store unlock' removes "
        "the locks no live process holds (older than a minute), then retry."
    )


def _remedy(error: str) -> str:
    """What to do about a ref update git refused for a reason of the storage."""
    for said, what in (
        ("No space left", "the disk is full: free some space and commit again"),
        ("Disk quota exceeded", "the disk quota is used up: free some space"),
        ("Read-only file system", "the repository is on read-only storage"),
        ("Permission denied", "no permission: check the owner and mode of .git/refs"),
        (
            "couldn't write",
            "git could not write there: a full disk, read-only storage or "
            "permissions; free space or fix them and commit again",
        ),
    ):
        if said in error:
            return f"; {what} (nothing was committed)"
    return ""


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _content(
    meta: Mapping[str, Any] | None, volatile: Collection[str] = ()
) -> dict[str, Any] | None:
    if meta is None:
        return None
    content = {k: v for k, v in meta.items() if k not in _VOLATILE and k not in volatile}
    hashes = content.get("file_sha256")
    if volatile and isinstance(hashes, Mapping):  # a volatile file's hash is volatile too
        content["file_sha256"] = {k: v for k, v in hashes.items() if k not in volatile}
    for dotted in volatile:  # "test_metrics.duration_seconds": one key of a mapping
        outer, _, inner = dotted.partition(".")
        if inner and isinstance(content.get(outer), Mapping):
            content[outer] = {k: v for k, v in content[outer].items() if k != inner}
    return content


def _differing(
    old: Mapping[str, Any], new: Mapping[str, Any], volatile: Collection[str]
) -> list[str]:
    """The names whose values differ, each said how: ``trades.csv (changed)``,
    ``events.log (only in the new run)``; metrics named one by one."""
    out = []
    for name in sorted(old.keys() | new.keys()):
        if name in volatile or old.get(name) == new.get(name):
            continue
        if name not in new:
            out.append(f"{name} (only in the stored version)")
        elif name not in old:
            out.append(f"{name} (only in the new run)")
        elif isinstance(old[name], Mapping) and isinstance(new[name], Mapping):
            inner = _differing(old[name], new[name], ())
            out += [f"{name}.{item}" for item in inner]
        else:
            out.append(f"{name} (changed)")
    return out
