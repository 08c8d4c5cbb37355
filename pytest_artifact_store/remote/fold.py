"""Publishing folded tags (``gc --fold-tags --push``): the remote's index refs move to
the local ones (one atomic push, leased on the index that was merged), then the tags
they hold and the archived task branches they keep reachable are deleted there in one
atomic transaction -- each deletion leased on what the remote was seen to hold, so a tag
or branch another machine moved meanwhile stands."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from typing import Any

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import Repository, deadline_left, last_lines, redact
from pytest_artifact_store.remote.link import Link, porcelain

# Refspecs and leases per push: a command line has room for ~2 MiB; past this the
# index goes first (with what fits), then the rest of the deletions in atomic chunks.
_ARG_BUDGET = 1 << 20
# receive-pack's words for a ref that no longer has the value a deletion leased on
_LEASE_LOST = ("failed to lock", "failed to update ref", "atomic transaction failed", "stale")


def index_refspec(remote: str, prefix: str) -> str:
    """Fetches the remote's index refs to ``refs/artifact-index-remotes/<remote>/...``."""
    return f"+{naming.INDEX_SPACE}/{prefix}/*:{naming.index_tracking(remote, prefix)}*"


def fetch_indexes(link: Link, prefix: str) -> None:
    """Copy the remote's index refs next to its remote-tracking branches."""
    res = link.fetch("fetch the index refs from", [index_refspec(link.remote, prefix)], prune=True)
    if res.returncode and "couldn't find remote ref" not in res.stderr:
        raise ArtifactStoreError(str(link.failed("fetch the index refs from", res)))


def push_fold(
    repo: Repository,
    link: Link,
    prefix: str,
    indexes: Mapping[str, str],
    names: Mapping[str, str],
    tasks: Mapping[str, str],
) -> dict[str, Any]:
    """``indexes``: {index ref: local commit}; ``names``: {folded tag: version commit};
    ``tasks``: {archived branch: its tip}. Returns what the remote now has."""
    heads, tags, remote_indexes = _remote_refs(link, prefix)
    # the index is leased on what was fetched and merged into the local one: if another
    # machine moved it since, the push is refused (and a rerun merges theirs) rather than
    # dropping folds whose tags and branches are already gone from the remote
    space = naming.index_tracking(link.remote, prefix)
    merged = {
        f"{naming.INDEX_SPACE}/{prefix}/{line.split(' ', 1)[1].removeprefix(space)}": (
            line.split(" ", 1)[0]
        )
        for line in repo.for_each_ref([space], "%(objectname) %(refname)")
    }
    updates: list[tuple[str, str]] = []  # (lease, refspec)
    for ref, commit in sorted(indexes.items()):
        theirs = remote_indexes.get(ref)
        if theirs != merged.get(ref):
            raise ArtifactStoreError(
                f"{link.where()}: {ref} changed after it was read (another machine folded "
                "tags meanwhile); nothing was pushed: run 'artifact-store gc --fold-tags "
                "--push' again to merge it"
            )
        if theirs != commit:
            updates.append((f"--force-with-lease={ref}:{theirs or ''}", f"{commit}:{ref}"))
    deletions: list[tuple[str, str]] = []  # (ref, the value it must still have)
    deleted_tags = []
    for name, (oid, target) in sorted(tags.items()):
        if names.get(name) == target:
            deletions.append((f"refs/tags/{name}", oid))
            deleted_tags.append(name)
    deleted_branches = []
    for branch, tip in sorted(tasks.items()):
        theirs = heads.get(f"refs/heads/{branch}")
        if theirs and (theirs == tip or repo.is_ancestor(theirs, tip)):
            deletions.append((f"refs/heads/{branch}", theirs))
            deleted_branches.append(branch)
    pushes = 0
    if updates:  # the indexes first: a folded tag is never gone before its index is there
        pushes += 1
        _git_push(link, updates)
    if deletions:
        command = link.receive_pack()
        if command is not None:  # one transaction of leased deletions, O(refs)
            pushes += 1
            _delete(link, *command, deletions)
        else:  # git's push matches each ref against the remote's: in chunks
            leased = [(f"--force-with-lease={r}:{old}", f":{r}") for r, old in deletions]
            for chunk in _chunks(leased):
                pushes += 1
                _git_push(link, chunk)
    _remember(repo, link.remote, prefix, indexes, deleted_branches)
    return {
        "remote": link.remote,
        "indexes": sorted(r for r, c in indexes.items() if remote_indexes.get(r) != c),
        "tags_deleted": len(deleted_tags),
        "branches_deleted": deleted_branches,
        "pushes": pushes,
    }


def _git_push(link: Link, updates: list[tuple[str, str]]) -> None:
    args = ["-c", f"remote.{link.remote}.mirror=false", "push", "--porcelain", "--atomic"]
    args += ["--no-follow-tags", "--recurse-submodules=no", *(lease for lease, _ in updates)]
    res = link.run("push the folded tags to", [*args, link.remote, *(s for _, s in updates)])
    if res.returncode:
        stale = [r for r, (_, why) in porcelain(res.stdout).items() if "stale info" in why]
        if stale or "cannot lock ref" in res.stderr or "already exists" in res.stderr:
            raise _raced(link, stale)
        raise ArtifactStoreError(str(link.failed("push the folded tags to", res)))


def _raced(link: Link, refs: list[str]) -> ArtifactStoreError:
    return ArtifactStoreError(
        f"{link.where()}: another machine changed {', '.join(refs[:3]) or 'the index refs'} "
        "while this one folded; nothing more was changed there: run 'artifact-store gc "
        "--fold-tags --push' again to finish"
    )


def _delete(
    link: Link, command: list[str], env: dict[str, str], deletions: list[tuple[str, str]]
) -> None:
    """Delete refs in one atomic receive-pack transaction, each only if it still has the
    value read (the protocol's old value is the lease). Speaking the protocol costs
    O(refs); git's push client matches every deleted ref against every ref the remote
    has (hours for 90k deletions from a remote of 150k refs, with git 2.39)."""
    zero = b"0" * len(deletions[0][1])
    lines = []
    for i, (ref, old) in enumerate(deletions):
        caps = b"\0report-status atomic agent=pytest-artifact-store" if i == 0 else b""
        lines.append(_pkt(b"%s %s %s%s\n" % (old.encode(), zero, ref.encode(), caps)))
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # its group (sh, ssh) is killed whole at the deadline
    )
    try:
        out, err = proc.communicate(
            b"".join(lines) + b"0000", timeout=max(deadline_left(link.deadline), 0.001)
        )
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ArtifactStoreError(
            f"deleting folded tags on {link.where()} timed out after {link.limit:g} s; the "
            "indexes are there: run 'artifact-store gc --fold-tags --push' again"
        ) from None
    segments = _segments(out)
    report = segments[1] if len(segments) > 1 else []
    failed = [line.decode("utf-8", "replace").split(" ", 2) for line in report]
    failed = [f for f in failed if f[0] == "ng" and len(f) == 3]
    if failed and any(word in why for _ng, _ref, why in failed for word in _LEASE_LOST):
        raise _raced(link, [ref for _ng, ref, _why in failed])
    if proc.returncode or not report or report[0] != b"unpack ok" or failed:
        why = "; ".join(f"{ref}: {reason}" for _ng, ref, reason in failed[:3])
        raise ArtifactStoreError(
            f"deleting folded tags on {link.where()} was refused: "
            f"{redact(why or last_lines(err.decode('utf-8', 'replace')))}"
        )


def _pkt(data: bytes) -> bytes:
    return b"%04x" % (len(data) + 4) + data


def _segments(data: bytes) -> list[list[bytes]]:
    """pkt-lines, split at flush packets."""
    out: list[list[bytes]] = [[]]
    pos = 0
    while pos + 4 <= len(data):
        try:
            size = int(data[pos : pos + 4], 16)
        except ValueError:
            break
        if size == 0:
            out.append([])
            pos += 4
            continue
        out[-1].append(data[pos + 4 : pos + size].rstrip(b"\n"))
        pos += size
    return out


def _remote_refs(
    link: Link, prefix: str
) -> tuple[dict[str, str], dict[str, tuple[str, str]], dict[str, str]]:
    """The remote's task branches, store tags ({name: (object, commit)}) and index refs."""
    patterns = [
        f"refs/heads/{prefix}/*",
        f"refs/tags/{naming.CORR_PREFIX}*",
        f"refs/tags/{naming.PROMPT_PREFIX}*",
        f"{naming.INDEX_SPACE}/{prefix}/*",
    ]
    res = link.run("read the refs of", ["ls-remote", link.source(), *patterns])
    if res.returncode:
        raise ArtifactStoreError(str(link.failed("read the refs of", res)))
    heads: dict[str, str] = {}
    tags: dict[str, tuple[str, str]] = {}
    indexes: dict[str, str] = {}
    for line in res.stdout.splitlines():
        oid, _, ref = line.partition("\t")
        if ref.startswith("refs/tags/"):
            name = ref.removeprefix("refs/tags/")
            if name.endswith("^{}"):  # the peeled line follows its tag
                base = name[:-3]
                if base in tags:
                    tags[base] = (tags[base][0], oid)
            else:
                tags[name] = (oid, oid)
        elif ref.startswith("refs/heads/"):
            heads[ref] = oid
        elif ref.startswith(naming.INDEX_SPACE + "/"):
            indexes[ref] = oid
    return heads, tags, indexes


def _chunks(updates: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """One chunk when everything fits on a command line; else the index updates (first
    in the list) with what fits, then atomic chunks of the rest."""
    chunks: list[list[tuple[str, str]]] = [[]]
    size = 0
    for lease, spec in updates:
        cost = len(lease) + len(spec) + 2
        if chunks[-1] and size + cost > _ARG_BUDGET:
            chunks.append([])
            size = 0
        chunks[-1].append((lease, spec))
        size += cost
    return [c for c in chunks if c]


def _remember(
    repo: Repository,
    remote: str,
    prefix: str,
    indexes: Mapping[str, str],
    deleted_branches: list[str],
) -> None:
    """The remote-tracking copies follow what the push did."""
    space = naming.index_tracking(remote, prefix)
    updates: list[tuple[str, str, str | None]] = []
    for ref, commit in indexes.items():
        tracking = space + ref.removeprefix(f"{naming.INDEX_SPACE}/{prefix}/")
        updates.append((tracking, commit, repo.resolve([tracking])[0]))
    for branch in deleted_branches:
        tracking = f"refs/remotes/{remote}/{branch}"
        old = repo.resolve([tracking])[0]
        if old:
            updates.append((tracking, repo.null_sha, old))
    if updates:
        repo.transaction(updates, "artifact-store: folded tags pushed")
