"""Task refs read from git's files backend (git/refstore.py) list exactly what
``git for-each-ref`` lists, whatever state the ref files are in -- and a listing that
reuses a parsed table sees every move."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
from pytest_artifact_store.git.refstore import read_refs
from pytest_artifact_store.git.repository import Repository

PREFIXES = ["refs/heads/ai/generated/", "refs/remotes/origin/ai/generated/"]


def for_each_ref(git, repo: Path) -> list[tuple[str, str]]:
    out = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", *PREFIXES)
    return [tuple(line.split(" ", 1)) for line in out.splitlines()]  # type: ignore[misc]


@pytest.fixture
def refs_repo(repo: Path, git) -> tuple[Path, str, str]:
    """Task branches and remote-tracking ones, some packed, some loose, a tag among
    them (a peeled line in packed-refs) and names just outside the prefixes."""
    one = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    two = git(repo, "commit-tree", tree, "-p", one, "-m", "two").strip()
    for i in range(30):
        git(repo, "update-ref", f"refs/heads/ai/generated/wf_{i % 3}/task_{i:03d}", one)
        git(repo, "update-ref", f"refs/remotes/origin/ai/generated/wf_{i % 3}/task_{i:03d}", one)
    git(repo, "tag", "-a", "-m", "t", "v1", one)
    git(repo, "update-ref", "refs/heads/ai/generated0", one)  # just after the prefix
    git(repo, "update-ref", "refs/heads/ai/generate/x", one)  # just before it
    git(repo, "update-ref", "refs/remotes/origin/ai/generated/wf_t/tagged", "refs/tags/v1")
    git(repo, "pack-refs", "--all")
    git(repo, "update-ref", "refs/heads/ai/generated/wf_0/task_000", two)  # loose over packed
    git(repo, "update-ref", "refs/heads/ai/generated/wf_9/loose_only", two)
    return repo, one, two


def test_the_files_backend_reads_what_for_each_ref_lists(refs_repo, git) -> None:
    repo, _, two = refs_repo
    store = Repository(repo)
    got = store.refs_under(PREFIXES)
    assert got == for_each_ref(git, repo)
    assert (two, "refs/heads/ai/generated/wf_0/task_000") in got
    assert all(not ref.startswith("refs/heads/ai/generated0") for _, ref in got)
    assert read_refs(store.common_dir, sorted(PREFIXES)) is not None  # no git was asked


def test_a_loose_ref_to_a_missing_object_is_listed_as_git_lists_it(refs_repo, git) -> None:
    repo, _, _ = refs_repo
    broken = repo / ".git" / "refs" / "heads" / "ai" / "generated" / "wf_0" / "broken"
    broken.write_text("0123456789abcdef0123456789abcdef01234567\n")
    got = Repository(repo).refs_under(PREFIXES)
    assert got == for_each_ref(git, repo)
    assert (
        "0123456789abcdef0123456789abcdef01234567",
        broken.relative_to(repo / ".git").as_posix(),
    ) in got


@pytest.mark.parametrize(
    "spoil",
    [
        "symbolic",
        "lock-file",
        "bad-name",
        "unsorted",
        "not-utf8",
        "no-packed-refs",
        "empty-packed-refs",
    ],
)
def test_odd_ref_files_still_list_what_git_lists(refs_repo, git, spoil: str) -> None:
    repo, one, _ = refs_repo
    gitdir = repo / ".git"
    loose = gitdir / "refs" / "heads" / "ai" / "generated" / "wf_1"
    packed = gitdir / "packed-refs"
    if spoil == "symbolic":
        git(repo, "symbolic-ref", "refs/heads/ai/generated/wf_1/sym", "refs/heads/main")
    elif spoil == "lock-file":  # an update in flight: git lists the ref as it was
        (loose / "task_001.lock").parent.mkdir(parents=True, exist_ok=True)
        (loose / "task_001.lock").write_text(one + "\n")
    elif spoil == "bad-name":  # an editor's backup: git ignores (and warns about) it
        (loose / "task_001~").parent.mkdir(parents=True, exist_ok=True)
        (loose / "task_001~").write_text(one + "\n")
    elif spoil == "unsorted":
        records: list[str] = []  # each record with its peeled line, in reverse order
        for line in packed.read_text().splitlines()[1:]:
            if line.startswith("^"):
                records[-1] += "\n" + line
            else:
                records.append(line)
        packed.write_text("# pack-refs with: peeled\n" + "\n".join(reversed(records)) + "\n")
    elif spoil == "not-utf8":
        with packed.open("ab") as fh:
            fh.write(one.encode() + b" refs/heads/ai/generated/wf_1/caf\xe9\n")
    elif spoil == "no-packed-refs":
        refs = for_each_ref(git, repo)
        packed.unlink()
        for sha, ref in refs:  # the same refs, every one loose
            if ref.startswith("refs/heads/"):
                git(repo, "update-ref", ref, sha)
    elif spoil == "empty-packed-refs":
        packed.write_bytes(b"")
    want = [
        (sha, ref)
        for sha, ref in for_each_ref(git, repo)
        if not (spoil == "symbolic" and ref.endswith("/sym"))  # its target's id
    ]
    got = Repository(repo).refs_under(PREFIXES)
    if spoil == "symbolic":
        got = [(sha, ref) for sha, ref in got if not ref.endswith("/sym")]
    assert got == want


def test_a_reftable_repository_asks_git(tmp_path: Path) -> None:
    (tmp_path / "reftable").mkdir()
    assert read_refs(tmp_path, PREFIXES) is None


def test_a_listing_sees_each_move_of_the_refs_it_reused(repo: Path, git) -> None:
    """The parsed task-branch table and the tip-time memo are reused while packed-refs
    and the memo file say the same: a move (loose, packed, deleted) is seen at once."""
    files = repo / "out"
    files.mkdir()

    def commit(task: str, cid: str) -> str:
        (files / "trades.csv").write_text(f"id\n{cid}\n")
        result = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
        return result.commit_artifacts("wf", task, [files / "trades.csv"], correlation_id=cid)[
            "commit_sha"
        ]

    for i in range(60):
        commit(f"t{i:02d}", f"c{i}")
    git(repo, "pack-refs", "--all")

    def listed() -> list[str]:  # 50 of 60 task branches: the walk from the newest tips
        store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
        return [e["correlation_id"].removeprefix("corr_") for e in store.list_artifacts()]

    first = listed()
    assert listed() == first  # reused
    assert first[0] == "c59" and len(first) == 50
    newest = commit("t00", "new-on-old-task")  # a loose ref over a packed one
    assert listed()[0] == "new-on-old-task"
    git(repo, "pack-refs", "--all")
    assert listed()[0] == "new-on-old-task"
    git(repo, "update-ref", "-d", "refs/heads/ai/generated/wf/t00", newest)
    git(repo, "pack-refs", "--all")
    assert listed() == first  # c0 was never among the 50 newest
    git(repo, "update-ref", "refs/heads/ai/generated/wf/t00", newest)  # loose again
    assert listed()[0] == "new-on-old-task"


def test_without_home_no_file_of_the_working_directory_counts_as_the_users_config(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HOME unset git reads no global config; ``.gitconfig`` in the current
    directory is not one either (it once was, as a path relative to it)."""
    from pytest_artifact_store.git.repository import _config_stamp

    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.chdir(repo)
    (repo / ".gitconfig").write_text("[user]\n\tname = here\n")
    stamp = _config_stamp(repo / ".git", repo / ".git")
    assert stamp is not None
    assert all(not (isinstance(p, tuple) and p[0] == ".gitconfig") for p in stamp)
