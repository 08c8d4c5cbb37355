"""What a push of a task branch publishes: the versions (and joins) the remote is not
known to have, and their tags -- and a refusal, naming them, of any other commit the
remote lacks (local history that was never scanned must not reach a remote through an
artifact branch, SPEC §3/§6)."""

from __future__ import annotations

from pytest_artifact_store.git import Commit, Repository, redact
from pytest_artifact_store.naming import index_tracking
from pytest_artifact_store.remote.facts import JOIN_TRAILER, VersionFacts, task_ids
from pytest_artifact_store.remote.link import Link, PushFailed

_READS = 64  # commits read per round while walking what a push publishes
_IN_PROCESS = 8  # commits whose trees are compared here rather than by one diff-tree
_TREE_MODES = (b"40000", b"040000")
# the modes git writes; diff-tree reads others (100664, 040000) as one of these
_CANONICAL_MODES = frozenset((b"100644", b"100755", b"120000", b"40000", b"160000"))


def outgoing_tags(
    facts: VersionFacts, link: Link, branch: str, tip: str, *, since_tracking: bool = True
) -> list[str]:
    """Tags of the versions a push of ``tip`` publishes (``since_tracking``: those past
    the remote-tracking branch; else every version not on the remote's default branch).
    Raises PushFailed when it would publish a commit that is neither a version nor a
    join of this task (or one whose tree changes anything outside the task directory)
    and the remote lacks it."""
    repo = facts.repo
    workflow_id, task_id = task_ids(facts, branch)
    negatives = _known_there(facts, link.remote, branch, since_tracking)
    unknown = _past(facts, tip, negatives)
    artifacts: list[Commit] = []
    suspects: list[Commit] = []
    frontier = [tip] if tip in unknown else []
    queued = set(frontier)
    while frontier:
        batch, frontier = frontier[:_READS], frontier[_READS:]
        for commit in repo.read_commits(batch):
            if not facts.is_artifact_commit(commit, workflow_id, task_id):
                suspects.append(commit)
                continue
            artifacts.append(commit)
            for parent in commit.parents:
                if parent in unknown and parent not in queued:
                    queued.add(parent)
                    frontier.append(parent)
    suspects += _outside_task_dir(facts, artifacts, task_id)
    if suspects:
        refuse_unpublished(facts, link, branch, suspects)
    versions = [c for c in artifacts if JOIN_TRAILER not in c.trailers]
    names = [(n, v.sha) for v in versions for n in facts.tag_names(v)]
    targets = repo.resolve([f"refs/tags/{n}^{{commit}}" for n, _ in names])
    return sorted({n for (n, sha), target in zip(names, targets, strict=True) if target == sha})


def _past(facts: VersionFacts, tip: str, negatives: list[str]) -> set[str]:
    """``rev-list tip --not negatives``: the commits the remote lacks. The usual push --
    one new version on what the remote-tracking branch holds -- is answered from the
    tip's parents, without a process."""
    known = set(negatives)
    if tip in known:
        return set()
    head = facts.repo.read_commit(tip)
    if head is not None and head.parents and all(p in known for p in head.parents):
        return {tip}  # (were a negative to descend from tip, the remote has it: see
        # refuse_unpublished, which asks again before refusing anything)
    return set(facts.repo.run(["rev-list", tip, "--not", *negatives]).stdout.split())


def _known_there(facts: VersionFacts, remote: str, branch: str, since_tracking: bool) -> list[str]:
    """Commits the remote is known to have, as ``rev-list --not`` arguments."""
    repo = facts.repo
    bases = (branch, "HEAD", "main", "master") if since_tracking else ("HEAD", "main", "master")
    known = [f"refs/remotes/{remote}/{b}" for b in bases]
    negatives = sorted({sha for sha in repo.resolve([f"{k}^{{commit}}" for k in known]) if sha})
    # versions the remote's index keeps (archived and folded there) are on the remote,
    # and their tags are in the index: never pushed again
    return negatives + repo.for_each_ref(
        [index_tracking(remote, facts.config.branch_prefix)], "%(objectname)"
    )


def publishable(
    facts: VersionFacts, remote: str, branch: str, tip: str
) -> tuple[str | None, list[Commit]]:
    """Under ``require_approval``: the newest commit of the task (a version or a join)
    whose history past what the remote has holds only approved versions -- what may be
    pushed -- and the unapproved versions held back. The commit is None when nothing
    new may go (the remote-tracking tip, when known, is returned then)."""
    repo = facts.repo
    workflow_id, task_id = task_ids(facts, branch)
    negatives = _known_there(facts, remote, branch, True)
    order = repo.run(["rev-list", "--topo-order", tip, "--not", *negatives]).stdout.split()
    ok = facts.approved_versions(workflow_id, task_id)
    commits = {c.sha: c for c in repo.read_commits(order)}
    held: set[str] = set()
    ours: set[str] = set()  # versions and joins of this task
    for sha in reversed(order):  # parents first
        commit = commits[sha]
        if not facts.is_artifact_commit(commit, workflow_id, task_id):
            continue  # the base: judged by outgoing_tags (refused unless the remote has it)
        ours.add(sha)
        version = JOIN_TRAILER not in commit.trailers
        if (version and sha not in ok) or any(p in held for p in commit.parents):
            held.add(sha)
    waiting = [commits[s] for s in order if s in held and JOIN_TRAILER not in commits[s].trailers]
    best = next((s for s in order if s in ours and s not in held), None)
    if best is None:
        tracking = repo.resolve([f"refs/remotes/{remote}/{branch}"])[0]
        best = tracking if tracking and repo.is_ancestor(tracking, tip) else None
    return best, waiting


def _outside_task_dir(facts: VersionFacts, commits: list[Commit], task_id: str) -> list[Commit]:
    """Commits that change anything outside the task directory against their first
    parent: trailers alone do not make a version (a hand-made commit may copy them)."""
    with_parent = [c for c in commits if c.parents]
    if not with_parent:
        return []
    task_dir = facts.task_dir(task_id) + "/"
    if len(with_parent) <= _IN_PROCESS:  # a push's one or two versions: trees read here
        parents = facts.repo.read_many([f"{c.parents[0]}^{{tree}}" for c in with_parent])
        verdicts = [  # (a parent's tree missing: diff-tree says what it says)
            _changes_outside(facts.repo, c.tree, p[0], task_dir) if p else None
            for c, p in zip(with_parent, parents, strict=True)
        ]
        if None not in verdicts:
            return [c for c, bad in zip(with_parent, verdicts, strict=True) if bad]
    out = facts.repo.run(
        ["diff-tree", "--stdin", "-r", "--no-renames", "--name-only", "-z"],
        input="".join(f"{c.sha} {c.parents[0]}\n" for c in with_parent).encode(),
    ).raw.split(b"\0")
    bad: set[str] = set()
    current = ""
    for field in out:
        text = field.decode("utf-8", "surrogateescape").strip("\n")
        if len(text) in (40, 64) and all(ch in "0123456789abcdef" for ch in text):
            current = text  # diff-tree --stdin names each commit before its paths
        elif text and not text.startswith(task_dir):
            bad.add(current)
    return [c for c in with_parent if c.sha in bad]


def _changes_outside(repo: Repository, tree: str, base: str | None, task_dir: str) -> bool | None:
    """Whether ``tree`` differs from ``base`` (None: the empty tree) at any path not under
    ``task_dir`` (``a/b/``), as ``diff-tree -r`` would list it, comparing the trees along
    the task directory's path level by level; None when a tree cannot be read here, or
    is one diff-tree reads otherwise than as a set of names (a name twice, an odd mode)."""
    parts = [p.encode() for p in task_dir.strip("/").split("/")]
    new: str | None = tree
    while new != base:
        names = [n for n in (new, base) if n is not None]
        read = repo.read_trees(names)
        if any(t is None for t in read):
            return None
        trees = dict(zip(names, read, strict=True))
        a = {e.name: (e.mode, e.sha) for e in trees.get(new, []) or []} if new else {}
        b = {e.name: (e.mode, e.sha) for e in trees.get(base, []) or []} if base else {}
        for entries in read:  # a name twice hides one entry from the dicts above
            if entries is not None and (
                len({e.name for e in entries}) != len(entries)
                or any(e.mode not in _CANONICAL_MODES for e in entries)
            ):
                return None
        head = parts[0]
        na, nb = a.pop(head, None), b.pop(head, None)
        if a != b:
            return True  # something beside the task directory's path changed
        if na == nb:
            return False
        if any(e is not None and e[0] not in _TREE_MODES for e in (na, nb)):
            return True  # a file where the path to the task directory runs
        if len(parts) == 1:
            return False  # only inside the task directory
        parts = parts[1:]
        new = na[1].hex() if na else None
        base = nb[1].hex() if nb else None
    return False


def refuse_unpublished(
    facts: VersionFacts, link: Link, branch: str, suspects: list[Commit]
) -> None:
    """Raise unless the remote has every one of ``suspects``."""
    repo, remote = facts.repo, link.remote
    shas = [c.sha for c in suspects]
    left = set(shas) & set(
        repo.run(["rev-list", *shas, "--not", f"--remotes={remote}"]).stdout.split()
    )
    if left:  # this clone may not have fetched lately: ask the remote for its branches
        res = link.run("ls-remote of", ["ls-remote", "--heads", link.source()])
        if res.returncode:
            raise link.failed("ls-remote of", res)
        prefix = f"\trefs/heads/{facts.config.branch_prefix}/"
        heads = [ln.split("\t", 1)[0] for ln in res.stdout.splitlines() if prefix not in ln]
        found = repo.resolve([f"{h}^{{commit}}" for h in heads])
        have = [sha for sha, ok in zip(heads, found, strict=True) if ok]
        if have:
            left &= set(repo.run(["rev-list", *sorted(left), "--not", *have]).stdout.split())
    if left:
        named = [c for c in suspects if c.sha in left]
        holders = repo.run(
            ["for-each-ref", "--format=%(refname:short)", "--contains", named[0].sha, "refs/heads/"]
        ).stdout.split()
        prefix = facts.config.branch_prefix + "/"
        mine = [h for h in holders if not h.startswith(prefix)]
        base = next((h for h in ("main", "master") if h in mine), mine[0] if mine else "main")
        shown = ", ".join(f"{c.sha[:12]} {_subject(c)!r}" for c in named[:5])
        more = f" and {len(named) - 5} more" if len(named) > 5 else ""
        raise PushFailed(
            f"refusing to push {branch} to {link.where()}: it would publish {len(named)} "
            f"commit(s) that are not artifact versions and that the remote does not have: "
            f"{shown}{more}. They are local history (the base of the task branch, or "
            f"commits made on it by hand), never scanned. If they are meant to be public, "
            f"push them there first (e.g. 'git push {redact(remote)} {base}') and push again; "
            "otherwise base new task branches on a commit the remote has (base_ref)"
        )


def _subject(commit: Commit) -> str:
    return commit.message.split(b"\n", 1)[0].decode("utf-8", "replace")[:60]
