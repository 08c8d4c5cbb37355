"""The store works in every state a developer's repository can be in (SPEC §4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

BRANCH = "ai/generated/wf/t1"


def state(repo: Path, git) -> tuple[str, ...]:
    gitdir = Path(git(repo, "rev-parse", "--absolute-git-dir"))
    index = (gitdir / "index").read_bytes() if (gitdir / "index").exists() else b""
    markers = sorted(
        p.name for p in gitdir.iterdir() if p.name.isupper() or p.name.startswith("rebase")
    )
    return (
        git(repo, "status", "--porcelain=v2", "--branch"),
        (gitdir / "HEAD").read_text(),
        str(hash(index)),
        " ".join(markers),
    )


def commit_in(repo: Path, artifacts: dict[str, Path]) -> dict:
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    return store.commit_artifacts("wf", "t1", list(artifacts.values()), correlation_id="c1")


def _conflict(repo: Path, git) -> None:
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "README.md").write_text("side\n")
    git(repo, "commit", "-qam", "side")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("main\n")
    git(repo, "commit", "-qam", "main change")


@pytest.mark.parametrize("operation", ["merge", "rebase", "cherry-pick"])
def test_mid_operation_with_conflicts(repo, git, artifacts, operation):
    _conflict(repo, git)
    if operation == "rebase":
        git(repo, "checkout", "-q", "side")
        git(repo, "rebase", "main", check=False)
    elif operation == "merge":
        git(repo, "merge", "side", check=False)
    else:
        git(repo, "cherry-pick", "side", check=False)
    assert "UU README.md" in git(repo, "status", "--short") or "AA" in git(
        repo, "status", "--short"
    )
    before = state(repo, git)
    result = commit_in(repo, artifacts)
    assert state(repo, git) == before
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]


def test_shallow_clone(tmp_path, repo, git, artifacts):
    for i in range(3):
        (repo / f"f{i}").write_text(str(i))
        git(repo, "add", ".")
        git(repo, "commit", "-qm", f"c{i}")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth=1", f"file://{repo}", str(shallow))
    result = commit_in(shallow, artifacts)
    assert git(shallow, "rev-parse", f"{BRANCH}^") == git(shallow, "rev-parse", "HEAD")
    entry = ArtifactStore(ArtifactStoreConfig(repo_path=shallow)).list_artifacts()
    assert [e["commit_sha"] for e in entry] == [result["commit_sha"]]
    assert git(shallow, "fsck", "--strict", "--no-dangling") == ""


def test_hooks_path_with_failing_commit_hooks_is_not_involved(tmp_path, repo, git, artifacts):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for name in ("pre-commit", "commit-msg", "post-commit", "pre-push"):
        (hooks / name).write_text('#!/bin/sh\necho hook ran >> "$(dirname "$0")/ran"\nexit 1\n')
        (hooks / name).chmod(0o755)
    git(repo, "config", "core.hooksPath", str(hooks))
    result = commit_in(repo, artifacts)
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    assert not (hooks / "ran").exists()


def test_subdirectory_as_repo_path_uses_the_enclosing_repository(repo, git, artifacts):
    result = ArtifactStore(
        ArtifactStoreConfig(repo_path=repo / "src", auto_push=False)
    ).commit_artifacts("wf", "t1", list(artifacts.values()), correlation_id="c1")
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]


def test_sha256_repository(tmp_path, git, artifacts):
    repo = tmp_path / "sha256"
    git(tmp_path, "init", "-q", "--object-format=sha256", str(repo))
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    result = commit_in(repo, artifacts)
    assert len(result["commit_sha"]) == 64
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    meta = json.loads(git(repo, "show", f"{BRANCH}:Backtest/codes/t1/metadata.json"))
    assert meta["base_commit"] == git(repo, "rev-parse", "main")
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo))
    assert store.get_artifact_by_correlation_id("c1")["commit_sha"] == result["commit_sha"]
