"""Folded tags (SPEC §10 ``gc --fold-tags``): one index ref per workflow instead of a
``corr_``/``prompt_`` tag per archived version.

``refs/artifact-index/<branch_prefix>/<workflow_id>`` is a commit whose tree maps

- ``tags/<xx>/<tag name>`` to the version's commit (a gitlink entry: the tree holds the id
  itself; ``xx`` is two hex digits of the name's SHA-1, so no tree grows past a few
  hundred entries and a lookup reads two small trees), and
- ``tasks/<task_id>`` to the archived tip of that task's branch,

and whose parents keep every archived tip reachable (the previous index commit first,
then the tips folded by this run, at most :data:`PARENTS` per commit). A fetched copy of
a remote's index lives under ``refs/artifact-index-remotes/<remote>/...``; lookups read
both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from pytest_artifact_store import naming
from pytest_artifact_store.git import MODE_TREE, Repository, TreeEntry

SPACE = naming.INDEX_SPACE
MODE_LINK = b"160000"  # a gitlink: the entry is an object id, not an object of this tree
PARENTS = 64  # archived tips per index commit (a fold of more makes a chain)


def index_ref(prefix: str, workflow_id: str) -> str:
    return f"{SPACE}/{prefix}/{workflow_id}"


def tag_path(name: str) -> str:
    return f"tags/{hashlib.sha1(name.encode()).hexdigest()[:2]}/{name}"


def task_path(task_id: str) -> str:
    return f"tasks/{task_id}"


def index_refs(repo: Repository, prefix: str, remote: str) -> list[str]:
    """The local index refs and the fetched copies of the remote's."""
    return repo.for_each_ref(
        [f"{SPACE}/{prefix}/", naming.index_tracking(remote, prefix)], "%(refname)"
    )


def folded_targets(repo: Repository, refs: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """{tag name: version commit} for the names some index holds (the first index that
    has a name wins: they agree, a folded tag never moves)."""
    if not refs or not names:
        return {}
    query = [f"{ref}:{tag_path(n)}" for n in names for ref in refs]
    found = repo.resolve(query)
    out: dict[str, str] = {}
    for i, sha in enumerate(found):
        name = names[i // len(refs)]
        if sha and name not in out:
            out[name] = sha
    return out


def read_entries(repo: Repository, ref: str) -> dict[str, bytes]:
    """{path: raw id} of every gitlink in an index (empty when the ref does not exist)."""
    out = repo.run(["ls-tree", "-r", "-z", "--full-tree", ref], check=False)
    if out.returncode:
        return {}
    entries: dict[str, bytes] = {}
    for record in out.stdout.split("\0"):
        if record:
            info, _, path = record.partition("\t")
            mode, _kind, sha = info.split()
            if mode.encode() == MODE_LINK:
                entries[path] = bytes.fromhex(sha)
    return entries


def write_index(
    repo: Repository,
    entries: Mapping[str, bytes],
    parents: Sequence[str],
    tips: Iterable[str],
    ident: bytes,
    message: str,
) -> str:
    """Write the index tree for ``entries`` and the commit(s) above ``parents`` that
    keep ``tips`` reachable; returns the new index commit."""
    tree = _write_tree(repo, entries)
    above = list(parents)
    todo = sorted(set(tips) - set(above))
    batches = [todo[i : i + PARENTS] for i in range(0, len(todo), PARENTS)] or [[]]
    for batch in batches:
        commit = repo.write_commit(tree, above + batch, ident, ident, message.encode() + b"\n")
        above = [commit]
    return commit


def _write_tree(repo: Repository, entries: Mapping[str, bytes]) -> str:
    """Trees bottom-up from {path: gitlink id}."""
    children: dict[str, dict[str, TreeEntry]] = {"": {}}
    for path, sha in entries.items():
        parts = path.split("/")
        for depth in range(1, len(parts)):
            children.setdefault("/".join(parts[:depth]), {})
        parent = "/".join(parts[:-1])
        children[parent][parts[-1]] = TreeEntry(MODE_LINK, parts[-1].encode(), sha)
    for directory in sorted((d for d in children if d), key=lambda d: -d.count("/")):
        written = repo.write_tree(children[directory].values())
        parent, _, name = directory.rpartition("/")
        children[parent][name] = TreeEntry(MODE_TREE, name.encode(), bytes.fromhex(written))
    return repo.write_tree(children[""].values())
