"""Small reads answered in this process by libgit2 (pygit2) instead of cat-file.

A Repository turns to the in-process reader once it has made many small reads (a
long-lived caller). Its answers must be exactly what ``git cat-file --batch`` gives,
whatever other processes do to the repository meanwhile; names it does not handle,
and objects it cannot find, go to git; where git shows objects other than as stored
(replace refs) it is never used.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
from pytest_artifact_store.git import Repository, readers
from pytest_artifact_store.git import repository as gitrepo

pytest.importorskip("pygit2", reason="pygit2 is a dependency: `pip install -e .` installs it")


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Repository turns to the in-process reader at its first small read."""
    monkeypatch.setattr(gitrepo, "_IN_PROCESS_AFTER", 0)


@pytest.fixture
def versions(repo: Path, artifacts: dict[str, Path]) -> list[dict]:
    with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
        return [
            store.commit_artifacts(
                "wf", f"task_{i % 2}", artifacts, correlation_id=f"c{i}", prompt_hash="ab12cd34"
            )
            for i in range(3)
        ]


def cat_file(repo: Path, names: list[str]) -> list[tuple[str, str, bytes] | None]:
    """What one `git cat-file --batch` process says of each name."""
    out = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=repo,
        input="".join(n + "\n" for n in names).encode(),
        capture_output=True,
        check=True,
    ).stdout
    answers: list[tuple[str, str, bytes] | None] = []
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split(b" ")
        if header[-1] in (b"missing", b"ambiguous"):
            answers.append(None)
            pos = nl + 1
            continue
        size = int(header[2])
        answers.append((header[0].decode(), header[1].decode(), out[nl + 1 : nl + 1 + size]))
        pos = nl + 2 + size
    return answers


def names_for(repo: Path, git, v: dict) -> list[str]:
    commit = v["commit_sha"]
    tree = git(repo, "rev-parse", f"{commit}^{{tree}}")
    blob = git(repo, "rev-parse", f"{commit}:Backtest/codes/task_0/metadata.json")
    return [
        commit,
        tree,
        blob,
        "refs/tags/corr_c0",  # the annotated tag object itself
        "refs/tags/corr_c0^{commit}",
        "refs/tags/corr_c0^{tree}",
        "refs/tags/corr_c0:Backtest/codes/task_0",  # a tree at a path
        f"{commit}:Backtest/codes/task_0/metadata.json",
        f"{tree}:Backtest/codes/task_0/strategy.py",
        "refs/heads/ai/generated/wf/task_0",
        "refs/heads/ai/generated/wf/task_1^{commit}",
        "refs/tags/light",  # a lightweight tag
        "refs/tags/light^{tree}",
        "refs/heads/alias",  # a symbolic ref
        # what git calls missing
        "refs/tags/corr_nope",
        "refs/tags/corr_nope^{commit}",
        f"{commit}:Backtest/codes/task_9/metadata.json",
        f"{blob}^{{commit}}",
        f"{blob}^{{tree}}",
        f"{commit}:README.md/x",
        "0" * 40,
        "refs/heads/ai",  # a directory of refs, not a ref
    ]


def test_answers_are_byte_for_byte_what_cat_file_says(repo, git, versions, in_process):
    git(repo, "tag", "light", versions[1]["commit_sha"])
    git(repo, "symbolic-ref", "refs/heads/alias", "refs/heads/ai/generated/wf/task_1")
    names = names_for(repo, git, versions[0])
    with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
        reader = store.repo._in_process_reader()
        assert isinstance(reader, readers.InProcessReader)
        expected = cat_file(repo, names)
        said: list[object] = []
        for name in names:
            try:
                said.append(reader.read(name))
            except readers.AskGit:  # an object it cannot find: git may have it
                said.append("asked git")
        assert said == [
            ("asked git" if n == "0" * 40 else e) for n, e in zip(names, expected, strict=True)
        ]
        assert sum(e is None for e in expected) == 8  # the missing ones are missing
        # and through Repository.read_many, small batches at a time
        for i in range(0, len(names), 4):
            assert store.repo.read_many(names[i : i + 4]) == expected[i : i + 4]


def test_other_names_go_to_git(repo, git, versions, in_process):
    """Names outside the simple forms are left to cat-file, also inside a mixed batch."""
    other = [
        "HEAD",
        "main~0",
        versions[0]["commit_sha"][:12],  # abbreviated
        "corr_c0",  # not a full ref name
        "refs/heads/main@{0}",
        "refs/tags/corr_c0^{}",
        f"{versions[0]['commit_sha']}:./README.md",
        f"{versions[0]['commit_sha']}:src/../README.md",
        versions[0]["commit_sha"].upper(),
    ]
    with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
        reader = store.repo._in_process_reader()
        assert reader is not None
        for name in other:
            with pytest.raises(readers.AskGit):
                reader.read(name)
        mixed = [other[0], "refs/tags/corr_c1^{commit}", other[2], other[4]]
        assert store.repo.read_many(mixed) == cat_file(repo, mixed)


def test_it_sees_what_other_processes_do_meanwhile(repo, git, versions, in_process, tmp_path):
    with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
        r = store.repo
        assert r.resolve(["refs/tags/corr_c0^{commit}"]) == [versions[0]["commit_sha"]]
        assert r._in_process_reader() is not None
        # a tag moved, refs packed, a tag deleted: each by git in another process
        git(repo, "tag", "-f", "-a", "-m", "moved", "corr_c0", versions[2]["commit_sha"])
        assert r.resolve(["refs/tags/corr_c0^{commit}"]) == [versions[2]["commit_sha"]]
        git(repo, "pack-refs", "--all")
        assert r.resolve(["refs/tags/corr_c1^{commit}"]) == [versions[1]["commit_sha"]]
        git(repo, "tag", "-d", "corr_c1")
        assert r.resolve(["refs/tags/corr_c1^{commit}", "refs/tags/corr_c1"]) == [None, None]
        # new objects: loose, and in a pack that arrived after the reader opened
        loose = git(repo, "hash-object", "-w", "--stdin", input=b"new loose\n")
        assert r.read_many([loose]) == [(loose, "blob", b"new loose\n")]
        other = tmp_path / "other"
        git(tmp_path, "clone", "-q", str(repo), str(other))
        (other / "x.txt").write_text("fetched\n")
        git(other, "add", "x.txt")
        git(other, "commit", "-q", "-m", "x")
        git(repo, "fetch", "-q", str(other), "main:refs/heads/fetched")
        blob = git(repo, "rev-parse", "refs/heads/fetched:x.txt")
        assert r.read_many(["refs/heads/fetched:x.txt"]) == [(blob, "blob", b"fetched\n")]


def test_a_forked_child_reads_through_its_own_handle(repo, versions, in_process):
    if not hasattr(os, "fork"):
        pytest.skip("no os.fork on this platform")
    with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
        name = "refs/tags/corr_c2^{commit}"
        assert store.repo.resolve([name]) == [versions[2]["commit_sha"]]
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            try:
                os.write(write_fd, (store.repo.resolve([name])[0] or "none").encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as f:
            said = f.read().decode()
        os.waitpid(pid, 0)
        assert said == versions[2]["commit_sha"]


def test_only_a_long_lived_caller_turns_to_it(repo, versions):
    """The first small reads go to cat-file (importing pygit2 costs more than a
    lookup); large reads always do, and do not count."""
    tag = ["refs/tags/corr_c0^{commit}"]
    with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
        for _ in range(gitrepo._IN_PROCESS_AFTER):
            assert store.repo.resolve(tag) == [versions[0]["commit_sha"]]
        assert store.repo._in_process is False  # not decided yet
        large = [f"refs/tags/corr_c{i % 3}^{{commit}}" for i in range(gitrepo._SMALL_READ + 1)]
        assert store.repo.resolve(large)[:3] == [v["commit_sha"] for v in versions]
        assert store.repo._in_process is False
        assert store.repo.resolve(tag) == [versions[0]["commit_sha"]]
        assert isinstance(store.repo._in_process, readers.InProcessReader)


def test_never_where_git_replaces_objects(repo, git, versions, in_process):
    git(repo, "replace", "--graft", versions[1]["commit_sha"])  # as if it had no parent
    r = Repository(repo)
    try:
        assert r.read_many([versions[1]["commit_sha"]]) == cat_file(
            repo, [versions[1]["commit_sha"]]
        )
        assert r._in_process is None
        assert b"parent " not in r.read_many([versions[1]["commit_sha"]])[0][2]  # type: ignore[index]
    finally:
        r.close()


def test_lookups_give_the_same_entries_either_way(repo, git, versions, monkeypatch):
    def lookups() -> list[object]:
        with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
            return [
                store.get_artifact_by_correlation_id(c) for c in ("c0", "c1", "c2", "nope", "")
            ] + [store.find_version(ref) for ref in ("c1", "corr_c2", "wf/task_1", "HEAD")]

    by_git = lookups()
    monkeypatch.setattr(gitrepo, "_IN_PROCESS_AFTER", 0)
    assert lookups() == by_git
    assert [e["commit_sha"] for e in by_git[:3]] == [v["commit_sha"] for v in versions]
    for entry in by_git[:3]:  # the store's tags git says point at the version
        assert entry["tags"] == git(repo, "tag", "--points-at", entry["commit_sha"]).split()
    assert "prompt_ab12cd34" in by_git[0]["tags"]
    assert by_git[3:5] == [None, None] and by_git[-1] is None


def test_without_pygit2_every_read_stays_with_git(repo, versions, in_process, monkeypatch):
    monkeypatch.setitem(sys.modules, "pygit2", None)  # import pygit2 -> ImportError
    with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
        entry = store.get_artifact_by_correlation_id("c1")
        assert entry is not None and entry["commit_sha"] == versions[1]["commit_sha"]
        assert store.repo._in_process is None
