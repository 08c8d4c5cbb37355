"""Publishing folded tags (``gc --fold-tags --push``): the remote's index refs move to
the local ones and, in the same atomic push, the tags they hold and the archived task
branches they keep reachable are deleted there -- each deletion leased on what the
remote was seen to hold, so a tag or branch another machine moved meanwhile stands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import Repository
from pytest_artifact_store.remote.link import Link, porcelain

# Refspecs and leases per push: a command line has room for ~2 MiB; past this the
# index goes first (with what fits), then the rest of the deletions in atomic chunks.
_ARG_BUDGET = 1 << 20


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
    deleted_tags = []
    for name, (oid, target) in sorted(tags.items()):
        if names.get(name) == target:
            updates.append((f"--force-with-lease=refs/tags/{name}:{oid}", f":refs/tags/{name}"))
            deleted_tags.append(name)
    deleted_branches = []
    for branch, tip in sorted(tasks.items()):
        theirs = heads.get(f"refs/heads/{branch}")
        if theirs and (theirs == tip or repo.is_ancestor(theirs, tip)):
            ref = f"refs/heads/{branch}"
            updates.append((f"--force-with-lease={ref}:{theirs}", f":{ref}"))
            deleted_branches.append(branch)
    pushes = 0
    for chunk in _chunks(updates):
        pushes += 1
        args = ["-c", f"remote.{link.remote}.mirror=false", "push", "--porcelain", "--atomic"]
        args += ["--no-follow-tags", "--recurse-submodules=no", *(lease for lease, _ in chunk)]
        res = link.run("push the folded tags to", [*args, link.remote, *(s for _, s in chunk)])
        if res.returncode:
            stale = [r for r, (_, why) in porcelain(res.stdout).items() if "stale info" in why]
            if stale or "cannot lock ref" in res.stderr or "already exists" in res.stderr:
                raise ArtifactStoreError(
                    f"{link.where()}: another machine changed "
                    f"{', '.join(stale[:3]) or 'the index refs'} while this one folded; "
                    f"nothing was pushed{' in this part' if pushes > 1 else ''}: run "
                    "'artifact-store gc --fold-tags --push' again to merge what it folded"
                )
            raise ArtifactStoreError(str(link.failed("push the folded tags to", res)))
    _remember(repo, link.remote, prefix, indexes, deleted_branches)
    return {
        "remote": link.remote,
        "indexes": sorted(r for r, c in indexes.items() if remote_indexes.get(r) != c),
        "tags_deleted": len(deleted_tags),
        "branches_deleted": deleted_branches,
        "pushes": pushes,
    }


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
