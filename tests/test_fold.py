"""gc --fold-tags (SPEC §10, issue 26): archived versions' corr_/prompt_ tags folded into
one index ref per workflow, locally and on the remote; lookups still find them; nobody
pushes a folded tag or an archived branch back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError

INDEX = "refs/artifact-index/ai/generated/wf"


@pytest.fixture
def remote(bare_remote: Path) -> Path:
    return bare_remote


def store_of(repo: Path, **kw: object) -> ArtifactStore:
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo, **kw))  # type: ignore[arg-type]


def history(store: ArtifactStore, tmp_path: Path, tasks: int = 3, per_task: int = 3) -> dict:
    """{correlation id: commit} of tasks x per_task versions (task_2 is the newest)."""
    made = {}
    for t in range(tasks):
        for i in range(per_task):
            src = tmp_path / f"v{t}{i}.csv"
            src.write_text(f"t,i\n{t},{i}\n")
            cid = f"c{t}{i}"
            result = store.commit_artifacts(
                "wf", f"task_{t}", [src], correlation_id=cid, prompt_hash=f"{t}{i}abcdef"
            )
            made[cid] = result["commit_sha"]
    return made


def tags(git, repo: Path) -> set[str]:
    return set(git(repo, "tag", "--list").split())


def test_fold_moves_archived_tags_into_the_index_and_lookups_still_find_them(tmp_path, repo, git):
    store = store_of(repo, auto_push=False)
    made = history(store, tmp_path)
    moved = store.archive(0, keep_last=3)  # task_2 holds the newest 3 versions: it stays
    assert sorted(m["branch"] for m in moved) == [f"ai/generated/wf/task_{t}" for t in (0, 1)]
    planned = store.fold_tags(dry_run=True)
    assert len(planned["tags"]) == 12 and git(repo, "tag", "--list", "corr_c00") == "corr_c00"
    result = store.fold_tags()
    assert result["tags"] == planned["tags"]
    assert result["workflows"]["wf"]["tags"] == 12 and result["workflows"]["wf"]["tasks"] == 2
    assert tags(git, repo) == {f"corr_c2{i}" for i in range(3)} | {
        f"prompt_2{i}abcdef" for i in range(3)
    }
    # the index: a gitlink per folded tag and per archived task; its parents hold the tips
    listing = git(repo, "ls-tree", "-r", INDEX)
    assert f"160000 commit {made['c01']}\ttags/" in listing and "/corr_c01" in listing
    tip = git(repo, "rev-parse", "refs/archive/ai/generated/wf/task_0")
    assert f"160000 commit {tip}\ttasks/task_0" in listing
    assert tip in git(repo, "rev-list", "--parents", "-1", INDEX).split()
    # nothing but the index keeps the archived versions now, and git gc keeps them
    for t in (0, 1):
        git(repo, "update-ref", "-d", f"refs/archive/ai/generated/wf/task_{t}")
    git(repo, "gc", "-q", "--prune=now")
    assert "missing" not in git(repo, "fsck", "--strict", "--no-dangling")
    fresh = store_of(repo, auto_push=False)
    entry = fresh.get_artifact_by_correlation_id("c01")
    assert entry["commit_sha"] == made["c01"] and entry["archived"] is True
    assert entry["folded_tags"] == ["corr_c01", "prompt_01abcdef"] and entry["tags"] == []
    assert fresh.find_version("prompt_11abcdef")["commit_sha"] == made["c11"]
    assert fresh.find_version("corr_c12")["commit_sha"] == made["c12"]
    assert fresh.find_version("c10")["commit_sha"] == made["c10"]
    assert fresh.get_artifact_by_correlation_id("c21")["tags"] == ["corr_c21", "prompt_21abcdef"]
    assert fresh.get_artifact_by_correlation_id("nope") is None
    # folding again changes nothing
    again = fresh.fold_tags()
    assert again["tags"] == [] and again["workflows"] == {}


def test_a_second_fold_adds_to_the_index(tmp_path, repo, git):
    store = store_of(repo, auto_push=False)
    history(store, tmp_path)
    store.archive(0, keep_last=6)  # only task_0
    first = store.fold_tags()["workflows"]["wf"]["commit"]
    store.archive(0, keep_last=3)  # now task_1 too
    second = store.fold_tags()
    assert len(second["tags"]) == 6
    commit = second["workflows"]["wf"]["commit"]
    assert git(repo, "rev-parse", f"{commit}^1") == first
    assert store_of(repo).get_artifact_by_correlation_id("c00")["commit_sha"]
    assert store_of(repo).get_artifact_by_correlation_id("c11")["commit_sha"]


def test_fold_push_publishes_the_index_and_nobody_pushes_folded_tags_back(
    tmp_path, repo, remote, git
):
    gc_store = store_of(repo)
    made = history(gc_store, tmp_path)
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "-q", str(remote), str(runner))
    git(runner, "fetch", "-q", "origin", "refs/tags/*:refs/tags/*")
    for t in range(3):  # the runner has every task branch and tag locally
        git(runner, "branch", f"ai/generated/wf/task_{t}", f"origin/ai/generated/wf/task_{t}")
    gc_store.archive(0, keep_last=3)
    result = gc_store.fold_tags(push=True)
    pushed = result["push"]
    assert pushed["tags_deleted"] == 12 and pushed["indexes"] == [INDEX]
    assert sorted(pushed["branches_deleted"]) == [f"ai/generated/wf/task_{t}" for t in (0, 1)]
    assert tags(git, remote) == tags(git, repo)
    assert git(remote, "rev-parse", INDEX) == git(repo, "rev-parse", INDEX)
    assert git(remote, "for-each-ref", "refs/heads/ai/generated/wf/task_0") == ""
    assert git(remote, "fsck", "--strict", "--no-dangling") == ""
    assert git(remote, "cat-file", "-t", made["c00"]) == "commit"  # kept by the index
    # the runner pushes what is pending: the archived branches and folded tags stay gone
    src = tmp_path / "new.csv"
    src.write_text("new\n")
    runner_store = store_of(runner)
    new = runner_store.commit_artifacts("wf", "task_2", [src], correlation_id="c99")
    assert new["pushed"] is True, new["push_error"]
    pending = runner_store.push_pending(verify=True)
    assert pending["success"] and sorted(pending["archived"]) == [
        f"ai/generated/wf/task_{t}" for t in (0, 1)
    ]
    assert git(remote, "for-each-ref", "refs/heads/ai/generated/wf/task_0") == ""
    assert "corr_c00" not in tags(git, remote) and "corr_c99" in tags(git, remote)
    # a new runner that fetched the index finds a folded version by correlation id
    late = tmp_path / "late"
    git(tmp_path, "clone", "-q", str(remote), str(late))
    late_store = store_of(late)
    late_store.fetch("wf")
    assert late_store.get_artifact_by_correlation_id("c00")["commit_sha"] == made["c00"]
    assert late_store.find_version("prompt_12abcdef")["commit_sha"] == made["c12"]


def test_fold_push_leaves_a_tag_the_remote_holds_elsewhere(tmp_path, repo, remote, git):
    store = store_of(repo)
    made = history(store, tmp_path, tasks=2)
    # another machine's same-named tag on another commit (the remote's stands)
    git(remote, "tag", "-f", "corr_c00", made["c10"])
    store.archive(0, keep_last=3)
    result = store.fold_tags(push=True)
    assert "corr_c00" in tags(git, remote)
    assert git(remote, "rev-parse", "corr_c00^{commit}") == made["c10"]
    assert result["push"]["tags_deleted"] == 5


def test_cli_gc_fold_tags_push_json(tmp_path, repo, remote, git):
    history(store_of(repo), tmp_path)
    cmd = [sys.executable, "-m", "pytest_artifact_store.cli", "--repo", str(repo), "gc"]
    refused = subprocess.run([*cmd, "--older-than", "0", "--push"], capture_output=True, text=True)
    assert refused.returncode == 1 and "--push goes with --fold-tags" in refused.stderr
    proc = subprocess.run(
        [*cmd, "--older-than", "0", "--keep-last", "3", "--fold-tags", "--push", "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["archived"]) == 2 and len(out["fold"]["tags"]) == 12
    assert out["fold"]["push"]["tags_deleted"] == 12
    text = subprocess.run(
        [*cmd, "--older-than", "0", "--fold-tags", "--dry-run"], capture_output=True, text=True
    )
    # a dry run counts the tags of what it would archive (task_2), in the order of a run
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("would archive ai/generated/wf/task_2")
    assert "would fold 6 tag(s) of wf" in text.stdout
    assert git(repo, "tag", "--list", "corr_c2*").split() == ["corr_c20", "corr_c21", "corr_c22"]


def _machine(tmp_path: Path, remote: Path, git, name: str, tasks: int = 2) -> ArtifactStore:
    """A clone of ``remote`` with ``tasks`` tasks of its own in workflow wf, pushed."""
    path = tmp_path / name
    git(tmp_path, "clone", "-q", str(remote), str(path))
    store = store_of(path)
    for t in range(tasks):
        for i in range(2):
            src = tmp_path / f"{name}{t}{i}.csv"
            src.write_text(f"{name},{t},{i}\n")
            result = store.commit_artifacts(
                "wf", f"task_{name}{t}", [src], correlation_id=f"{name}{t}{i}"
            )
            assert result["pushed"], result["push_error"]
    return store


def test_two_machines_folding_one_after_the_other_keep_both_folds(tmp_path, remote, git):
    a = _machine(tmp_path, remote, git, "A")
    b = _machine(tmp_path, remote, git, "B")
    for store in (a, b):  # the default remote each time (no remote= given)
        store.archive(0)
        assert store.fold_tags(push=True)["push"]["tags_deleted"] == 4
    listing = git(remote, "ls-tree", "-r", "--name-only", INDEX)
    assert all(f"/corr_{m}{t}{i}" in listing for m in "AB" for t in range(2) for i in range(2))
    assert git(remote, "tag", "--list") == ""
    git(remote, "gc", "-q", "--prune=now")
    assert git(remote, "fsck", "--strict", "--no-dangling") == ""
    late = tmp_path / "late"
    git(tmp_path, "clone", "-q", str(remote), str(late))
    store = store_of(late)
    store.fetch()
    for cid in ("A00", "A11", "B00", "B11"):
        assert store.get_artifact_by_correlation_id(cid) is not None, cid
    assert len(store.list_artifacts(archived=True, limit=None)) == 8


def test_a_fold_push_is_refused_when_the_remote_index_moved_after_it_was_read(
    tmp_path, remote, git, monkeypatch
):
    from pytest_artifact_store.remote import fold

    a = _machine(tmp_path, remote, git, "A")
    b = _machine(tmp_path, remote, git, "B")
    a.archive(0)
    b.archive(0)
    read = fold._remote_refs

    def a_folds_meanwhile(link, prefix):  # A pushes between B's merge and B's push
        monkeypatch.setattr(fold, "_remote_refs", read)
        a.fold_tags(push=True)
        return read(link, prefix)

    monkeypatch.setattr(fold, "_remote_refs", a_folds_meanwhile)
    with pytest.raises(ArtifactStoreError, match="another machine"):
        b.fold_tags(push=True)
    assert "/corr_A00" in git(remote, "ls-tree", "-r", "--name-only", INDEX)
    assert git(remote, "tag", "--list", "corr_B*").split() == [
        f"corr_B{t}{i}" for t in range(2) for i in range(2)
    ]
    again = b.fold_tags(push=True)  # a rerun merges A's folds
    listing = git(remote, "ls-tree", "-r", "--name-only", INDEX)
    assert "/corr_A00" in listing and "/corr_B11" in listing
    assert again["push"]["tags_deleted"] == 4 and git(remote, "tag", "--list") == ""


def test_a_runner_after_plain_git_fetch_prune_does_not_push_folded_tags_back(tmp_path, remote, git):
    a = _machine(tmp_path, remote, git, "A")
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "-q", str(remote), str(runner))
    git(runner, "fetch", "-q", "origin", "refs/tags/*:refs/tags/*")
    git(runner, "branch", "-q", "ai/generated/wf/task_A0", "origin/ai/generated/wf/task_A0")
    a.archive(0)
    a.fold_tags(push=True)
    git(runner, "fetch", "-q", "--prune", "origin")  # the tracking branch is gone now
    src = tmp_path / "again.csv"
    src.write_text("again\n")
    result = store_of(runner).commit_artifacts("wf", "task_A0", [src], correlation_id="again")
    assert result["pushed"] is True, result["push_error"]
    assert git(remote, "tag", "--list").split() == ["corr_again"]
    reverted = store_of(runner).revert_to_tag("corr_A01")
    assert reverted["success"] and reverted["reverted_to"] == "corr_A01"
