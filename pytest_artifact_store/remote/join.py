"""Joining a remote task branch that moved (SPEC §6): fetch it and the tags of its new
versions, then a tagless merge commit of the two histories -- no version is rebuilt, so
every commit id and tag stays what it was when it was returned."""

from __future__ import annotations

import re

from pytest_artifact_store.remote.facts import (
    JOIN_TRAILER,
    JOIN_VERSION_TRAILER,
    VersionFacts,
    task_ids,
)
from pytest_artifact_store.remote.link import Link, transient
from pytest_artifact_store.timestamps import utc_now

# The remote tip last joined, whose versions' tags this clone still has to fetch: set in
# the same transaction as the join, cleared once the tags are here (see settle_tags).
TAGS_OWED = "refs/artifact-store/tags-owed"


def owed_ref(link: Link, branch: str) -> str:
    return f"{TAGS_OWED}/{link.remote}/{branch}"


def join(
    facts: VersionFacts, link: Link, branch: str, tip: str, local_ref: str | None = None
) -> bool:
    """Fetch the remote's task branch and join it with ``tip`` unless one contains the
    other; ``local_ref`` (default: the branch) moves to the join. True when the remote
    had versions this clone lacked (their tags are fetched once the push has landed:
    see :func:`settle_tags`)."""
    repo = facts.repo
    tracking = f"refs/remotes/{link.remote}/{branch}"
    res = link.fetch("fetch from", [f"+refs/heads/{branch}:{tracking}"], tips=[tip])
    if res.returncode:
        if "couldn't find remote ref" in res.stderr or transient(res.stderr):
            return False  # the remote lacks the branch (a tag or lock race), or try again
        raise link.failed("fetch from", res)
    remote_tip = repo.resolve([tracking])[0]
    if remote_tip is None or remote_tip == tip:
        return False
    base = repo.run(["merge-base", tip, remote_tip], check=False).stdout.strip()
    if base == remote_tip:
        return False  # a lock race: the remote has nothing we lack
    owed = owed_ref(link, branch)
    with repo.packing():  # the join's objects packed and kept until the refs move
        new = remote_tip  # the remote has all of ours and more
        if base != tip:
            new = write_join(facts, branch, tip, remote_tip)
            repo.flush()
        # a local commit that moved the branch meanwhile wins; the next try joins again
        error = repo.transaction(
            [
                (local_ref or f"refs/heads/{branch}", new, tip),
                (owed, remote_tip, repo.resolve([owed])[0]),
            ],
            "artifact-store: join",
        )
    return error is None


def settle_tags(facts: VersionFacts, link: Link, branch: str) -> None:
    """Fetch the tags of the versions joined from the remote that this clone lacks, so
    they are found by correlation id here too (never moving a tag this clone has), and
    clear the marker. One connection, after the push landed: a race is lost in the time
    between a fetch and the next push, so nothing else happens in between."""
    repo = facts.repo
    owed = owed_ref(link, branch)
    remote_tip = repo.resolve([owed])[0]
    if remote_tip is None:
        return
    if fetch_tags(link, missing_tags(facts, link, {branch: remote_tip})):
        repo.transaction([(owed, repo.null_sha, remote_tip)], "artifact-store: tags fetched")


def missing_tags(facts: VersionFacts, link: Link, tips: dict[str, str]) -> list[str]:
    """The tags the versions of these task branches (``{branch: tip}``) name that this
    clone lacks (the walks stop at the remote's default branch)."""
    repo = facts.repo
    bases = [f"refs/remotes/{link.remote}/{b}" for b in ("HEAD", "main", "master")]
    negatives = sorted({sha for sha in repo.resolve([f"{b}^{{commit}}" for b in bases]) if sha})
    names: set[str] = set()
    for branch, tip in tips.items():
        workflow_id, task_id = task_ids(facts, branch)
        new = repo.run(["rev-list", tip, "--not", *negatives]).stdout.split()
        names.update(
            n
            for c in repo.read_commits(new)
            if JOIN_TRAILER not in c.trailers and facts.is_artifact_commit(c, workflow_id, task_id)
            for n in facts.tag_names(c)
        )
    ordered = sorted(names)
    present = repo.resolve([f"refs/tags/{n}" for n in ordered])
    return [n for n, sha in zip(ordered, present, strict=True) if sha is None]


def fetch_tags(link: Link, wanted: list[str]) -> bool:
    """Fetch these tags (one connection; a tag the remote lacks is left out, one this
    clone made meanwhile is never moved). False when the connection failed."""
    while wanted:
        res = link.fetch("fetch tags from", [f"refs/tags/{n}:refs/tags/{n}" for n in wanted])
        missing = re.findall(r"couldn't find remote ref refs/tags/(\S+)", res.stderr)
        if res.returncode and not missing and transient(res.stderr):
            return False  # the next push (or fetch) tries again
        if not res.returncode or not missing:
            break  # fetched, or refused to clobber a tag made here meanwhile
        wanted = [n for n in wanted if n not in missing]
    return True


def write_join(facts: VersionFacts, branch: str, tip: str, remote_tip: str) -> str:
    """The join commit of ``remote_tip`` (first parent) and ``tip``: the remote's tree
    with the task directory of the newest version either side holds, by
    commit_timestamp then commit id, so every machine computes the same tree."""
    repo = facts.repo
    workflow_id, task_id = task_ids(facts, branch)
    held = []
    for commit in repo.read_commits([remote_tip, tip]):
        version = facts.held_version(commit, workflow_id, task_id)
        order = facts.version_order(version, task_id) if version else ("", "")
        held.append((order, commit.sha))
    (_, newest), winner = max(held)
    task_dir = facts.task_dir(task_id)
    root = repo.resolve([f"{remote_tip}^{{tree}}"])[0]
    if winner != remote_tip:
        subtree = repo.resolve([f"{tip}:{task_dir}"])[0]
        if subtree:
            root = facts.replace_path(remote_tip, task_dir, subtree)
    assert root is not None
    message = (
        f"join({workflow_id}/{task_id}): versions made concurrently\n\n"
        f"{JOIN_TRAILER}: {workflow_id}/{task_id}\n"
        + (f"{JOIN_VERSION_TRAILER}: {newest}\n" if newest else "")
    ).encode()
    ident = facts.ident(utc_now())
    return repo.write_commit(
        root, [remote_tip, tip], ident, ident, message, sign=facts.config.sign_commits
    )
