"""Approving versions for stages, and reading who approved what (see :mod:`.approvals`)."""

from __future__ import annotations

import secrets
from typing import Any

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError, SecretDetectedError
from pytest_artifact_store.store import approvals
from pytest_artifact_store.store.history import History
from pytest_artifact_store.store.publish import version_data
from pytest_artifact_store.timestamps import utc_now


class Approving(History):
    """approve, stages, and the approvals of a version."""

    def approve(
        self,
        ref: str,
        stage: str,
        note: str | None = None,
        *,
        push: bool = True,
        remote: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Record an approval of the version ``ref`` names for ``stage``: an annotated tag
        by the user's git identity (signed when signing is configured), never moved;
        approving again makes a new record. With ``push`` and the remote present, the
        version and its approvals are pushed (under ``require_approval``: once the
        version has its ``required_approvals`` and nothing unapproved comes before it).

        Returns ``{'success', 'tag', 'stage', 'commit_sha', 'correlation_id',
        'workflow_id', 'task_id', 'approver', 'time', 'note', 'signed', 'approvers',
        'approved', 'holds_stage', 'pushed', 'push_error'}``.
        """
        stage = approvals.check_stage(stage)
        self.check_sinks()
        note = approvals.check_note(note)
        if push and remote is not None:  # a URL or an option is refused before the record
            from pytest_artifact_store.remote.link import check_remote_name

            check_remote_name(remote)
        entry = self.find_version(ref) if isinstance(ref, str) else None
        if entry is None:
            raise ArtifactStoreError(
                f"unknown version {ref!r}: use a correlation id, a tag, a task branch "
                "(<workflow>/<task>), <workflow>/<task>@<stage> or a commit of a version"
            )
        workflow_id, task_id = str(entry["workflow_id"]), str(entry["task_id"])
        commit_sha = str(entry["commit_sha"])
        if self.config.scan_for_secrets and note:
            findings = self.scanner.scan_bytes(note.encode(), "the approval note")
            if findings:
                raise SecretDetectedError(findings)
        tagger = self.user_ident("approve")
        version = str(entry.get("correlation_id") or commit_sha[:12])
        stamp = utc_now()
        name = (
            f"{naming.APPROVAL_PREFIX}{workflow_id}/{task_id}/{stage}/"
            f"{stamp.strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(3)}"
        )
        message = approvals.tag_message(workflow_id, task_id, stage, version, note)
        with self.repo.packing():
            tag_sha = self.repo.write_tag(commit_sha, name, tagger, message, sign=self._sign_tags())
            self.repo.flush()
            made = f"{naming.APPROVALS_MADE}/{name.removeprefix(naming.APPROVAL_PREFIX)}"
            error = self.repo.transaction(
                [(f"refs/tags/{name}", tag_sha, None), (made, tag_sha, None)],
                f"artifact-store: approve {stage}",
            )
        if error is not None:
            raise ArtifactStoreError(f"could not record the approval {name}: {error.strip()}")
        records = approvals.read_approvals(self.repo, workflow_id, task_id)
        record = next(a for a in records if a.tag == name)
        required = self.config.required_approvals
        held = approvals.holders(records, required).get((workflow_id, task_id, stage))
        people = approvals.approvers(records, commit_sha)
        result: dict[str, Any] = {
            "success": True,
            **record.to_json(),
            "correlation_id": entry.get("correlation_id"),
            "approvers": len(people),
            "approved": len(people) >= required,
            "holds_stage": held is not None and held.commit_sha == commit_sha,
            "pushed": False,
            "push_error": None,
        }
        data = {
            **version_data({**result, "branch": self.branch_for(workflow_id, task_id)}, entry),
            "approval": record.to_json(),
            "approvers": result["approvers"],
            "approved": result["approved"],
        }
        branch = self.branch_for(workflow_id, task_id)
        self.queue_event("artifact.approved", f"artifact.approved:{tag_sha}", branch, name, data)
        if push:
            self._push_approved(result, remote, timeout)
        self.publish_queued(result)
        return result

    def _push_approved(
        self, result: dict[str, Any], remote: str | None, timeout: float | None
    ) -> None:
        from pytest_artifact_store.remote.push import Pusher

        name = remote or self.config.remote_name
        if not self.repo.remote_exists(name):
            result["push_error"] = f"no remote {name!r}: the approval is recorded locally"
            return
        branch = self.branch_for(result["workflow_id"], result["task_id"])
        seconds = self.config.push_timeout if timeout is None else timeout
        local, there = self.repo.resolve([f"refs/heads/{branch}", f"refs/remotes/{name}/{branch}"])
        if local is None or (there and self.repo.is_ancestor(result["commit_sha"], there)):
            # the remote has the version, or its task is archived here (gc): the records
            outcome = Pusher(self).push_records(
                name, branch, seconds, contains=result["commit_sha"]
            )
        else:
            outcome = Pusher(self).push_branch(name, branch, seconds, contains=result["commit_sha"])
        result["pushed"], result["push_error"] = outcome.pushed, outcome.error

    def _sign_tags(self) -> bool:
        """Signed when the store signs (sign_commits) or git signs tags (tag.gpgSign)."""
        if self.config.sign_commits:
            return True
        res = self.repo.run(["config", "--type=bool", "--get", "tag.gpgSign"], check=False)
        return res.stdout.strip() == "true"

    def approvals_of(self, commit_sha: str, workflow_id: str, task_id: str) -> list[dict[str, Any]]:
        """The approval records of one version, oldest first."""
        records = approvals.read_approvals(self.repo, workflow_id, task_id)
        return [a.to_json() for a in records if a.commit_sha == commit_sha]

    def stages(
        self, workflow_id: str | None = None, task_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Per task with approvals: which version holds each stage, and the history.

        ``[{'workflow_id', 'task_id', 'branch', 'stages': {stage: {'commit_sha',
        'correlation_id', 'since', 'approvers'}}, 'history': [record, ...]}]``.
        """
        if workflow_id is not None:
            naming.check_id("workflow_id", workflow_id)
        if task_id is not None:
            if workflow_id is None:
                raise ArtifactStoreError("stages of one task need its workflow id too")
            naming.check_id("task_id", task_id)
        records = approvals.read_approvals(self.repo, workflow_id, task_id)
        shas = sorted({a.commit_sha for a in records})
        corr = {
            c.sha: c.trailers.get("Correlation-Id") or None for c in self.repo.read_commits(shas)
        }
        held = approvals.holders(records, self.config.required_approvals)
        tasks: dict[tuple[str, str], dict[str, Any]] = {}
        for a in records:
            task = tasks.setdefault(
                (a.workflow_id, a.task_id),
                {
                    "workflow_id": a.workflow_id,
                    "task_id": a.task_id,
                    "branch": self.branch_for(a.workflow_id, a.task_id),
                    "stages": {},
                    "history": [],
                },
            )
            task["history"].append({**a.to_json(), "correlation_id": corr.get(a.commit_sha)})
        for (wf, task_name, stage), holder in sorted(held.items()):
            tasks[(wf, task_name)]["stages"][stage] = {
                "commit_sha": holder.commit_sha,
                "correlation_id": corr.get(holder.commit_sha),
                "since": holder.since.to_json()["time"],
                "approvers": list(holder.approvers),
            }
        return [tasks[k] for k in sorted(tasks)]
