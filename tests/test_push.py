"""Remote push (SPEC §6) against a real local bare remote and a remote that never answers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError

BRANCH = "ai/generated/wf/task_001"


@pytest.fixture
def remote(tmp_path: Path, repo: Path, git) -> Path:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    return bare


def make_store(repo: Path, **kw: object) -> ArtifactStore:
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo, **kw))  # type: ignore[arg-type]


def version(store: ArtifactStore, corr: str, text: str, **kw: object) -> dict:
    src = Path(store.config.repo_path).parent / f"{corr}-{time.monotonic_ns()}.py"
    src.write_text(text)
    return store.commit_artifacts("wf", "task_001", {"strategy.py": src}, correlation_id=corr, **kw)  # type: ignore[arg-type]


def remote_refs(git, bare: Path) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)")
    return {line.split()[0]: line.split()[-1] for line in out.splitlines()}


def test_auto_push_sends_branch_and_tags_atomically(repo, remote, git):
    result = version(make_store(repo), "c1", "v1\n", prompt_hash="abcdef")
    assert result["pushed"] is True and result["push_error"] is None
    theirs = remote_refs(git, remote)
    assert theirs[f"refs/heads/{BRANCH}"] == result["commit_sha"]
    assert theirs["refs/tags/corr_c1"] == result["commit_sha"]
    assert theirs["refs/tags/prompt_abcdef"] == result["commit_sha"]
    assert git(remote, "cat-file", "-t", "refs/tags/corr_c1") == "tag"


def test_only_artifact_refs_are_pushed(repo, remote, git):
    git(repo, "branch", "private-work")
    git(repo, "tag", "v1.0")
    version(make_store(repo), "c1", "v1\n")
    names = set(remote_refs(git, remote))
    assert names == {"refs/heads/main", f"refs/heads/{BRANCH}", "refs/tags/corr_c1"}


def test_no_remote_or_auto_push_off_keeps_the_commit(repo, git):
    result = version(make_store(repo), "c1", "v1\n")
    assert result["pushed"] is False and "no remote named 'origin'" in result["push_error"]
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    result = version(make_store(repo, auto_push=False), "c2", "v2\n")
    assert result["pushed"] is False and result["push_error"] == "auto_push is off"


def test_remote_moved_by_another_clone_is_joined_and_no_version_changes(
    tmp_path, repo, remote, git
):
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    theirs = version(make_store(other), "theirs", "theirs\n", prompt_hash="abcdef")
    assert theirs["pushed"] is True
    mine_store = make_store(repo, auto_push=False)
    mine1 = version(mine_store, "mine1", "mine1\n", prompt_hash="abcdef")
    mine2 = version(mine_store, "mine2", "mine2\n")
    assert mine1["tags"] == ["corr_mine1", "prompt_abcdef"]  # local prompt tag: first *here*
    result = make_store(repo).push_pending()
    assert result["success"] is True and result["pushed"] == [BRANCH]
    assert "notes" not in result  # a prompt tag the remote has is left out silently
    tip = git(remote, "rev-parse", BRANCH)
    # the remote's tip joins its history (first parent) and ours; nothing was rebuilt
    assert git(remote, "rev-parse", f"{tip}^1", f"{tip}^2").split() == [
        theirs["commit_sha"],
        mine2["commit_sha"],
    ]
    assert git(remote, "log", "--format=%s", "--first-parent", f"main..{BRANCH}").splitlines() == [
        "join(wf/task_001): versions made concurrently",
        "artifacts(wf/task_001): corr_theirs",
    ]
    body = git(remote, "log", "-1", "--format=%B", tip)
    assert "Artifact-Join: wf/task_001" in body
    assert f"Artifact-Version: {mine2['commit_sha']}" in body
    assert git(remote, "tag", "--points-at", tip) == ""  # a join carries no tag
    # its task directory is the newest version's
    assert git(remote, "show", f"{tip}:Backtest/codes/task_001/strategy.py") == "mine2"
    # every tag on the remote names the commit commit_artifacts returned
    assert git(remote, "rev-parse", "corr_mine1^{commit}") == mine1["commit_sha"]
    assert git(remote, "rev-parse", "corr_mine2^{commit}") == mine2["commit_sha"]
    assert git(remote, "rev-parse", "prompt_abcdef^{commit}") == theirs["commit_sha"]
    # locally: the branch is the join, tags unchanged, theirs fetched with its tag
    assert git(repo, "rev-parse", BRANCH) == tip
    assert git(repo, "rev-parse", "corr_mine2^{commit}") == mine2["commit_sha"]
    assert git(repo, "rev-parse", "prompt_abcdef^{commit}") == mine1["commit_sha"]
    assert git(repo, "rev-parse", "corr_theirs^{commit}") == theirs["commit_sha"]
    listed = make_store(repo).list_artifacts()
    assert [e["correlation_id"] for e in listed] == ["corr_mine2", "corr_mine1", "corr_theirs"]
    assert [e["commit_sha"] for e in listed] == [
        mine2["commit_sha"],
        mine1["commit_sha"],
        theirs["commit_sha"],
    ]
    found = make_store(repo).get_artifact_by_correlation_id("theirs")
    assert found is not None and found["tags"] == ["corr_theirs"]  # prompt_ is mine1 here
    assert git(remote, "fsck", "--strict", "--no-dangling") == ""
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_push_after_commit_joins_when_the_remote_moved(tmp_path, repo, remote, git):
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    theirs = version(make_store(other), "theirs", "theirs\n")
    result = version(make_store(repo), "mine", "mine\n")
    assert result["pushed"] is True, result["push_error"]
    tip = git(remote, "rev-parse", BRANCH)
    assert git(remote, "rev-parse", f"{tip}^1", f"{tip}^2").split() == [
        theirs["commit_sha"],
        result["commit_sha"],
    ]
    assert git(remote, "rev-parse", "corr_mine^{commit}") == result["commit_sha"]


def test_rejecting_remote_reports_gits_reason_and_keeps_the_commit(repo, remote, git):
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: artifact pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    result = version(make_store(repo), "c1", "v1\n")
    assert result["pushed"] is False
    assert "policy: artifact pushes are frozen" in result["push_error"]
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    hook.unlink()
    pending = make_store(repo).push_pending()
    assert pending["pushed"] == [BRANCH]
    assert git(remote, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]
    assert make_store(repo).push_pending()["up_to_date"] == [BRANCH]


def test_hanging_remote_times_out_and_keeps_the_commit(repo, git, silent_server):
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{silent_server}/repo.git")
    start = time.monotonic()
    result = version(make_store(repo, push_timeout=2), "c1", "v1\n")
    elapsed = time.monotonic() - start
    assert result["pushed"] is False
    assert "timed out" in result["push_error"]
    assert elapsed < 2 + 5
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    assert git(repo, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]


def test_push_pending_requires_a_remote(repo):
    with pytest.raises(ArtifactStoreError, match="no remote named 'upstream'"):
        make_store(repo).push_pending(remote="upstream")


def test_push_error_never_shows_url_credentials(repo, git):
    git(
        repo, "remote", "add", "origin", "http://bot:s3cr3t-pass@127.0.0.1:9/repo.git"
    )  # pragma: allowlist secret
    result = version(make_store(repo, push_timeout=5), "c1", "v1\n")
    assert result["pushed"] is False
    assert "s3cr3t-pass" not in result["push_error"]


def test_push_pending_reports_an_unreachable_remote_per_branch(repo, git, silent_server):
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{silent_server}/repo.git")
    version(make_store(repo, auto_push=False), "c1", "v1\n")
    result = make_store(repo, push_timeout=1).push_pending()
    assert result["success"] is False and result["pushed"] == []
    assert "timed out after push_timeout=1 s" in result["errors"][BRANCH]
    assert f"git://127.0.0.1:{silent_server}/repo.git" in result["errors"][BRANCH]
