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


def join(facts: VersionFacts, link: Link, branch: str, tip: str) -> int:
    """Fetch the remote's task branch and its new versions' tags; join it with ``tip``
    unless one contains the other. Returns 1 when a join commit was made."""
    repo = facts.repo
    tracking = f"refs/remotes/{link.remote}/{branch}"
    res = link.fetch("fetch from", [f"+refs/heads/{branch}:{tracking}"])
    if res.returncode:
        if "couldn't find remote ref" in res.stderr or transient(res.stderr):
            return 0  # the remote lacks the branch (a tag or lock race), or try again
        raise link.failed("fetch from", res)
    remote_tip = repo.resolve([tracking])[0]
    if remote_tip is None:
        return 0
    fetch_tags(facts, link, branch, remote_tip, tip)
    if remote_tip == tip or repo.is_ancestor(remote_tip, tip):
        return 0  # a lock race: the remote has nothing we lack
    if repo.is_ancestor(tip, remote_tip):
        new, made = remote_tip, 0  # the remote has all of ours and more
    else:
        new, made = write_join(facts, branch, tip, remote_tip), 1
    # a local commit that moved the branch meanwhile wins; the next try joins again
    repo.transaction([(f"refs/heads/{branch}", new, tip)], "artifact-store: join")
    return made


def fetch_tags(facts: VersionFacts, link: Link, branch: str, remote_tip: str, tip: str) -> None:
    """Fetch the tags of the remote's versions that this clone lacks (so they are found
    by correlation id here too); never moves a tag this clone has."""
    repo = facts.repo
    workflow_id, task_id = task_ids(facts, branch)
    new = repo.run(["rev-list", remote_tip, "--not", tip]).stdout.split()
    names = sorted(
        {
            n
            for c in repo.read_commits(new)
            if JOIN_TRAILER not in c.trailers and facts.is_artifact_commit(c, workflow_id, task_id)
            for n in facts.tag_names(c)
        }
    )
    present = repo.resolve([f"refs/tags/{n}" for n in names])
    wanted = [n for n, sha in zip(names, present, strict=True) if sha is None]
    while wanted:
        res = link.fetch("fetch tags from", [f"refs/tags/{n}:refs/tags/{n}" for n in wanted])
        missing = re.findall(r"couldn't find remote ref refs/tags/(\S+)", res.stderr)
        if not res.returncode or not missing:
            return  # fetched, or refused to clobber a tag made here meanwhile
        wanted = [n for n in wanted if n not in missing]


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
