"""A version's objects as one pack (git/packs.py): git reads it as its own."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_artifact_store.git import Repository
from pytest_artifact_store.git.packs import packed, write_pack


def test_a_written_pack_is_one_git_verifies_and_reads(repo: Path, git) -> None:
    r = Repository(repo)
    blobs = [os.urandom(n) for n in (0, 1, 15, 16, 4000, 300_000)]
    objects = [(b"blob", data, r.hash_object(b"blob", data)) for data in blobs]
    objects.append(objects[2])  # a repeat is written once
    pack = write_pack(r.objects_dir / "pack", objects, r.hash_name)
    out = git(repo, "verify-pack", "-v", str(pack.with_suffix(".idx")))
    assert "non delta: 6 objects" in out
    for data, (_, _, sha) in zip(blobs, objects, strict=False):
        assert git(repo, "cat-file", "-s", sha) == str(len(data))
        assert r.read_many([sha])[0] == (sha, "blob", data)
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
    names = [bytes.fromhex(sha) for _, _, sha in objects]
    assert packed(r.objects_dir / "pack", [*names, b"\x00" * 20]) == set(names)
    r.close()


def test_a_commit_writes_one_pack_and_no_loose_object(repo: Path, git, artifacts) -> None:
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    before = set(git(repo, "count-objects", "-v").splitlines())
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    result = store.commit_artifacts("wf", "t1", list(artifacts.values()), correlation_id="c1")
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    assert int(counts["packs"]) == 1 and "count: " + counts["count"] in before
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
    # the same files again: nothing is compressed twice, only the new trees and commit
    again = store.commit_artifacts("wf", "t1", list(artifacts.values()), correlation_id="c2")
    newest = max((repo / ".git" / "objects" / "pack").glob("*.idx"), key=os.path.getmtime)
    listed = git(repo, "verify-pack", "-v", str(newest)).splitlines()
    blobs = [line for line in listed if line.split()[1:2] == ["blob"]]
    assert len(blobs) == 1  # metadata.json (a new timestamp); the five files are reused
    assert git(repo, "rev-parse", "corr_c2^{commit}") == again["commit_sha"] != result["commit_sha"]


def test_a_revert_writes_no_loose_object(repo: Path, git, artifacts) -> None:
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    store.commit_artifacts("wf", "t1", list(artifacts.values()), correlation_id="c1")
    loose = git(repo, "count-objects").split()[0]
    result = store.revert_to_tag("c1", target_branch="main")
    assert git(repo, "count-objects").split()[0] == loose  # its tree and commit are packed
    assert git(repo, "rev-parse", "main") == result["commit_sha"]
    assert list((repo / ".git" / "objects" / "pack").glob("*.keep")) == []
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_a_clone_of_a_big_remote_gets_a_commit_graph_in_the_background(
    tmp_path: Path, repo: Path, git, artifacts
) -> None:
    """A fleet's clone (thousands of refs, no commit-graph): the first commit starts
    `git commit-graph write` detached, so walks over its task branches use the graph."""
    import time

    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    head = git(repo, "rev-parse", "HEAD")
    git(
        repo,
        "update-ref",
        "--stdin",
        input="".join(f"create refs/tags/t{i:05d} {head}\n" for i in range(6000)).encode(),
    )
    git(repo, "pack-refs", "--all")
    info = repo / ".git" / "objects" / "info"
    assert not (info / "commit-graph").exists()
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    store.commit_artifacts("wf", "t1", list(artifacts.values()), correlation_id="g1")
    chain = info / "commit-graphs" / "commit-graph-chain"
    deadline = time.monotonic() + 30
    while not chain.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chain.exists()
    assert "commit-graph" not in git(repo, "fsck", "--strict", "--no-dangling")


def test_versions_made_since_the_commit_graph_get_a_new_layer(
    tmp_path: Path, repo: Path, git
) -> None:
    """The newest versions are the tips a listing walks: after 16 versions the graph
    lacks, a new split layer is written (detached) and verifies."""
    import time

    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    git(repo, "commit-graph", "write", "--reachable")
    chain = repo / ".git" / "objects" / "info" / "commit-graphs" / "commit-graph-chain"
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    for i in range(17):
        src = tmp_path / f"v{i}.csv"
        src.write_text(f"{i}\n")
        store.commit_artifacts("wf", f"t{i % 4}", [src], correlation_id=f"v{i}")
    deadline = time.monotonic() + 30
    while not chain.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chain.exists()
    for _ in range(100):  # the writer may still be finishing
        if git(repo, "commit-graph", "verify", check=False) == "":
            break
        time.sleep(0.05)
    assert git(repo, "commit-graph", "verify") == ""
