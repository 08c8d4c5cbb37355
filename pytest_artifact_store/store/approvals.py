"""Approval records: annotated tags that promote a version to a stage (DVC GTO's idea:
the registry is the repository itself, and CI reacts to tag pushes).

One record is one tag, never moved: ``approval/<workflow>/<task>/<stage>/<time>-<nonce>``
on the version's commit, its tagger the approver's git identity, its message the note.
Approving again makes a new record. A version *holds* a stage from the record that gave
it ``required_approvals`` distinct approvers for that stage until another version does;
it is *approved* (may be pushed under ``require_approval``) once that many distinct
people approved it, for any stage.

Records of one task are read with one ``for-each-ref`` of its own prefix: their cost
follows the task's approvals, not the repository's tags.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import Repository
from pytest_artifact_store.naming import APPROVAL_PREFIX

STAGE_MAX = 40
NOTE_MAX = 64 << 10  # bytes: a reason, not a document (and an event a receiver takes)
_TAGGER = re.compile(rb"^tagger (.*) <([^>]*)> (-?\d+) ([+-]\d{4})$", re.M)
_STAGE_TRAILER = "Stage"
_VERSION_TRAILER = "Version"
_TRAILER = re.compile(rf"({_STAGE_TRAILER}|{_VERSION_TRAILER}): ")
_SIGNATURE = re.compile(rb"\n-----BEGIN [A-Z ]*SIGNATURE-----\n", re.M)
_SIGNATURE_END = re.compile(rb"\n-----END [A-Z ]*SIGNATURE-----\n*$")


def check_stage(stage: object) -> str:
    """A stage name: the id rules, at most 40 characters (``prod``, ``staging``)."""
    return naming.check_id("stage", stage, STAGE_MAX)


def check_note(note: object) -> str | None:
    """An approval's note: text of at most 64 KiB, without control characters other
    than newlines and tabs (a note is shown in terminals); CRLF line ends become LF."""
    if note is None:
        return None
    if not isinstance(note, str):
        raise ArtifactStoreError("the approval note must be text")
    note = note.replace("\r\n", "\n")
    bad = next((c for c in note if unicodedata.category(c) == "Cc" and c not in "\n\t"), None)
    if bad is not None:
        raise ArtifactStoreError(
            f"the approval note holds the control character {bad!r}: write plain text "
            "(newlines and tabs are fine)"
        )
    size = len(note.encode("utf-8", "surrogatepass"))
    if size > NOTE_MAX:
        raise ArtifactStoreError(
            f"the approval note is too long ({size} bytes, at most {NOTE_MAX}): say why in "
            "a few lines and link to the rest"
        )
    return note


def task_space(workflow_id: str | None = None, task_id: str | None = None) -> str:
    """The tag prefix of the records of one task (or workflow, or all), with ``refs/tags/``."""
    parts = [p for p in (workflow_id, task_id) if p]
    return "refs/tags/" + APPROVAL_PREFIX + "".join(p + "/" for p in parts)


@dataclass(frozen=True)
class Approval:
    """One approval record (one annotated tag)."""

    tag: str
    tag_sha: str
    commit_sha: str
    workflow_id: str
    task_id: str
    stage: str
    approver: str  # "Name <email>"
    email: str
    time: datetime
    note: str
    signed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "stage": self.stage,
            "commit_sha": self.commit_sha,
            "workflow_id": self.workflow_id,
            "task_id": self.task_id,
            "approver": self.approver,
            "time": self.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "note": self.note,
            "signed": self.signed,
        }


def tag_message(
    workflow_id: str, task_id: str, stage: str, version: str, note: str | None
) -> bytes:
    """The record's message: a subject, the note, and trailers naming stage and version."""
    body = f"approve {workflow_id}/{task_id} {version} for {stage}\n\n"
    if note:
        body += note.strip() + "\n\n"
    body += f"{_STAGE_TRAILER}: {stage}\n{_VERSION_TRAILER}: {version}\n"
    return body.encode()


def parse_record(name: str, tag_sha: str, data: bytes) -> Approval | None:
    """An :class:`Approval` from a tag object's bytes, or None when it is not one."""
    parts = name.removeprefix(APPROVAL_PREFIX).split("/")
    if not name.startswith(APPROVAL_PREFIX) or len(parts) != 4:
        return None
    workflow_id, task_id, stage, _ = parts
    head, _, message = data.partition(b"\n\n")
    target = re.search(rb"^object ([0-9a-f]{40,64})$", head, re.M)
    tagger = _TAGGER.search(head)
    if target is None or tagger is None:
        return None
    # git appends a tag's signature after the message: the last block, closing it
    begins = list(_SIGNATURE.finditer(b"\n" + message))
    signed = bool(begins) and _SIGNATURE_END.search(message) is not None
    if signed:
        message = (b"\n" + message)[: begins[-1].start()].removeprefix(b"\n")
    body = message.decode("utf-8", "replace").strip("\n").split("\n")[1:]
    last = max((i for i, line in enumerate(body) if not line.strip()), default=-1) + 1
    if all(_TRAILER.match(line) for line in body[last:]):
        del body[last:]  # the trailers closing the message, not a line of the note like them
    who, email = (tagger.group(i).decode("utf-8", "replace") for i in (1, 2))
    try:
        when = datetime.fromtimestamp(int(tagger.group(3)), timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None  # a date no clock had: not a record this store made
    return Approval(
        tag=name,
        tag_sha=tag_sha,
        commit_sha=target.group(1).decode(),
        workflow_id=workflow_id,
        task_id=task_id,
        stage=stage,
        approver=f"{who} <{email}>",
        email=email.lower(),
        time=when,
        note="\n".join(body).strip(),
        signed=signed,
    )


def read_approvals(
    repo: Repository, workflow_id: str | None = None, task_id: str | None = None
) -> list[Approval]:
    """Every record of a task (or workflow, or the repository), oldest first."""
    lines = repo.for_each_ref([task_space(workflow_id, task_id)], "%(objectname) %(refname)")
    pairs = [ln.split(" ", 1) for ln in lines]
    objects = repo.read_many([sha for sha, _ in pairs]) if pairs else []
    found = []
    for (sha, ref), obj in zip(pairs, objects, strict=True):
        if obj is None or obj[1] != "tag":
            continue
        record = parse_record(ref.removeprefix("refs/tags/"), sha, obj[2])
        if record is not None:
            found.append(record)
    return sorted(found, key=lambda a: (a.time, a.tag))


def approvers(records: Iterable[Approval], commit_sha: str) -> set[str]:
    """The distinct approvers (emails) of one version, any stage."""
    return {a.email for a in records if a.commit_sha == commit_sha}


def approved(records: Sequence[Approval], required: int) -> set[str]:
    """The versions with at least ``required`` distinct approvers."""
    people: dict[str, set[str]] = {}
    for a in records:
        people.setdefault(a.commit_sha, set()).add(a.email)
    return {sha for sha, who in people.items() if len(who) >= required}


@dataclass(frozen=True)
class Holder:
    """The version holding a stage, and the record that gave it the stage."""

    commit_sha: str
    since: Approval
    approvers: tuple[str, ...]


def holders(records: Sequence[Approval], required: int) -> dict[tuple[str, str, str], Holder]:
    """{(workflow, task, stage): Holder}: per stage, the version whose approvals for it
    reached ``required`` distinct approvers most recently."""
    people: dict[tuple[str, str, str, str], dict[str, str]] = {}
    held: dict[tuple[str, str, str], Holder] = {}
    for a in records:  # oldest first
        key = (a.workflow_id, a.task_id, a.stage)
        who = people.setdefault((*key, a.commit_sha), {})
        already = len(who) >= required
        who.setdefault(a.email, a.approver)
        if len(who) >= required and not already:
            held[key] = Holder(a.commit_sha, a, tuple(who.values()))
        elif key in held and held[key].commit_sha == a.commit_sha:
            held[key] = Holder(a.commit_sha, held[key].since, tuple(who.values()))
    return held


def parse_stage_ref(ref: str) -> tuple[str, str] | None:
    """``<task ref>@<stage>`` (``wf/task@prod``, a branch ``…@prod``) as (task ref, stage);
    None for anything else (``@{…}`` is git's reflog syntax)."""
    if "@" not in ref or "@{" in ref:
        return None
    left, _, stage = ref.rpartition("@")
    try:
        check_stage(stage)
    except ArtifactStoreError:
        return None
    return left, stage
