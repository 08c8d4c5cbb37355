"""Approval before push (issue 18): records as annotated tags, stages, require_approval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from approval_support import (
    BRANCH,
    TASK,
    WF,
    commit_version,
    make_store,
    push_cli,
    remote_refs,
)
from conftest import GitRunner

from pytest_artifact_store import ArtifactStoreError
from pytest_artifact_store.cli import main as cli_main


def _identity(monkeypatch: pytest.MonkeyPatch, name: str, email: str) -> None:
    for var in ("GIT_COMMITTER_NAME", "GIT_AUTHOR_NAME"):
        monkeypatch.setenv(var, name)
    for var in ("GIT_COMMITTER_EMAIL", "GIT_AUTHOR_EMAIL"):
        monkeypatch.setenv(var, email)


def test_an_unapproved_version_never_reaches_the_remote_and_an_approved_one_does(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    with make_store(repo, require_approval=True) as store:
        first = commit_version(store, artifacts, "c1")
        assert first["pushed"] is False
        assert "require_approval" in first["push_error"] and "corr_c1" in first["push_error"]
        refs = remote_refs(git, bare_remote)
        assert f"refs/heads/{BRANCH}" not in refs and "refs/tags/corr_c1" not in refs
        assert git(bare_remote, "cat-file", "-t", first["commit_sha"], check=False) == ""
        assert store.push_pending()["awaiting_approval"] == {BRANCH: ["corr_c1"]}
        assert f"refs/heads/{BRANCH}" not in remote_refs(git, bare_remote)
        cli = push_cli(repo, ARTIFACT_STORE_REQUIRE_APPROVAL="1")
        assert cli.returncode == 0, cli.stderr
        assert f"awaiting approval {BRANCH}: corr_c1" in cli.stdout
        assert "0 pushed, 0 up to date, 0 failed, 1 awaiting approval" in cli.stdout
        assert f"refs/heads/{BRANCH}" not in remote_refs(git, bare_remote)

        approval = store.approve("c1", "staging", note="looks good")
    assert approval["pushed"] is True, approval["push_error"]
    assert approval["approver"] == "Test User <test@example.com>"
    assert approval["approved"] is True and approval["holds_stage"] is True
    refs = remote_refs(git, bare_remote)
    assert refs[f"refs/heads/{BRANCH}"] == first["commit_sha"]
    assert "refs/tags/corr_c1" in refs
    assert refs[f"refs/tags/{approval['tag']}"] == git(repo, "rev-parse", approval["tag"])
    # the record, read with git itself: annotated, by the user, naming stage and version
    assert git(bare_remote, "cat-file", "-t", approval["tag"]) == "tag"
    body = git(bare_remote, "cat-file", "tag", approval["tag"])
    assert "tagger Test User <test@example.com>" in body
    assert "Stage: staging" in body and "Version: corr_c1" in body and "looks good" in body
    assert git(bare_remote, "rev-parse", f"{approval['tag']}^{{commit}}") == first["commit_sha"]
    assert approval["tag"].startswith(f"approval/{WF}/{TASK}/staging/")
    assert "error" not in git(bare_remote, "fsck", "--no-progress")


def test_an_approved_version_waits_for_the_unapproved_one_under_it(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    with make_store(repo, require_approval=True) as store:
        v1 = commit_version(store, artifacts, "v1")
        store.approve("v1", "prod")
        v2 = commit_version(store, artifacts, "v2", pnl=2)
        v3 = commit_version(store, artifacts, "v3", pnl=3)
        held = store.approve("v3", "prod")
        assert held["pushed"] is False and "corr_v2" in held["push_error"]
        refs = remote_refs(git, bare_remote)
        assert refs[f"refs/heads/{BRANCH}"] == v1["commit_sha"]
        assert "refs/tags/corr_v2" not in refs and "refs/tags/corr_v3" not in refs
        assert git(bare_remote, "cat-file", "-t", v2["commit_sha"], check=False) == ""
        store.approve("v2", "staging")
    refs = remote_refs(git, bare_remote)
    # approving v2 publishes v2 and v3 (both approved now) with every approval record
    assert refs[f"refs/heads/{BRANCH}"] == v3["commit_sha"]
    assert {"refs/tags/corr_v2", "refs/tags/corr_v3"} <= set(refs)
    local = git(repo, "for-each-ref", "--format=%(refname)", "refs/tags/approval/")
    assert set(local.split()) <= set(refs)
    assert len(local.split()) == 3


def test_required_approvals_counts_distinct_people(
    repo: Path,
    bare_remote: Path,
    artifacts: dict[str, Path],
    git: GitRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with make_store(repo, require_approval=True, required_approvals=2) as store:
        commit_version(store, artifacts, "c1")
        one = store.approve("c1", "prod")
        again = store.approve("c1", "prod")  # the same person twice is still one
        assert not one["approved"] and not again["approved"] and again["approvers"] == 1
        assert again["tag"] != one["tag"]
        assert f"refs/heads/{BRANCH}" not in remote_refs(git, bare_remote)
        assert store.stages(WF, TASK)[0]["stages"] == {}
        _identity(monkeypatch, "Risk Officer", "risk@example.com")
        two = store.approve("c1", "prod")
        assert two["approved"] and two["holds_stage"] and two["pushed"], two["push_error"]
        stages = store.stages()
    prod = stages[0]["stages"]["prod"]
    assert prod["correlation_id"] == "corr_c1"
    assert prod["approvers"] == ["Test User <test@example.com>", "Risk Officer <risk@example.com>"]
    assert [h["approver"] for h in stages[0]["history"]].count("Test User <test@example.com>") == 2


def test_stage_refs_resolve_everywhere(
    repo: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    with make_store(repo, auto_push=False) as store:
        v1 = commit_version(store, artifacts, "v1")
        commit_version(store, artifacts, "v2", pnl=2)
        store.approve("v1", "prod", push=False)
        assert store.find_version(f"{WF}/{TASK}@prod")["commit_sha"] == v1["commit_sha"]
        assert store.find_version(f"{BRANCH}@prod")["commit_sha"] == v1["commit_sha"]
        assert store.find_version(f"{WF}/{TASK}@nope") is None
        reverted = store.revert_to_tag(f"{WF}/{TASK}@prod")
        assert reverted["reverted_to"] == "corr_v1"
    tree = git(repo, "show", "main:Backtest/codes/t1/metadata.json")
    assert json.loads(tree)["correlation_id"] == "corr_v1"


def test_a_stage_moves_with_the_newest_approval_and_show_lists_approvals(
    repo: Path, artifacts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with make_store(repo, auto_push=False) as store:
        commit_version(store, artifacts, "v1")
        commit_version(store, artifacts, "v2", pnl=2)
        store.approve("v1", "prod", push=False)
        store.approve("v2", "prod", push=False, note="better pnl")
        held = store.stages(WF, TASK)[0]["stages"]["prod"]
    assert held["correlation_id"] == "corr_v2"
    assert cli_main(["--repo", str(repo), "stages"]) == 0
    out = capsys.readouterr().out
    assert "prod" in out and "corr_v2" in out and "Test User" in out
    assert cli_main(["--repo", str(repo), "stages", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [h["correlation_id"] for h in data[0]["history"]] == ["corr_v1", "corr_v2"]
    assert cli_main(["--repo", str(repo), "show", "v2"]) == 0
    shown = capsys.readouterr().out
    assert "approved" in shown and "prod" in shown and "better pnl" in shown
    assert cli_main(["--repo", str(repo), "show", "v2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["approvals"][0]["stage"] == "prod"


def test_approve_refuses_bad_input_and_changes_nothing(
    repo: Path, artifacts: dict[str, Path], git: GitRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    with make_store(repo, auto_push=False) as store:
        commit_version(store, artifacts, "v1")
        with pytest.raises(ArtifactStoreError, match="invalid stage"):
            store.approve("v1", "pr od")
        with pytest.raises(ArtifactStoreError, match="unknown version 'nope'"):
            store.approve("nope", "prod")
        with pytest.raises(ArtifactStoreError, match="secret"):
            store.approve("v1", "prod", note="token ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8")
    assert git(repo, "for-each-ref", "refs/tags/approval/") == ""
    assert cli_main(["--repo", str(repo), "approve", "v1", "--stage", "a/b"]) == 1
    assert "invalid stage" in capsys.readouterr().err


def test_approve_without_a_git_identity_says_how_to_set_one(
    repo: Path, artifacts: dict[str, Path], monkeypatch: pytest.MonkeyPatch, git: GitRunner
) -> None:
    with make_store(repo, auto_push=False) as store:
        commit_version(store, artifacts, "v1")
        git(repo, "config", "user.useConfigOnly", "true")
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        with pytest.raises(ArtifactStoreError, match=r"user\.email"):
            store.approve("v1", "prod")
    assert git(repo, "for-each-ref", "refs/tags/approval/") == ""


def test_pre_push_hook_refuses_a_plain_push_of_an_unapproved_version(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    assert cli_main(["--repo", str(repo), "install-hooks"]) == 0
    git(repo, "config", "artifactstore.requireApproval", "true")
    env = {**os.environ, "ARTIFACT_STORE_PYTHON": sys.executable}
    with make_store(repo, auto_push=False) as store:
        commit_version(store, artifacts, "v1")
    push = subprocess.run(
        ["git", "push", "origin", BRANCH, "corr_v1"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert push.returncode != 0
    assert "corr_v1" in push.stderr and "not approved" in push.stderr
    assert "artifact-store approve" in push.stderr
    assert f"refs/heads/{BRANCH}" not in remote_refs(git, bare_remote)
    with make_store(repo, auto_push=False) as store:
        store.approve("v1", "prod", push=False)
    push = subprocess.run(
        ["git", "push", "origin", BRANCH],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert push.returncode == 0, push.stderr
    assert f"refs/heads/{BRANCH}" in remote_refs(git, bare_remote)


def test_two_machines_approving_concurrently_keep_every_version(
    tmp_path: Path, repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare_remote), str(other))
    with (
        make_store(repo, require_approval=True) as a,
        make_store(other, require_approval=True) as b,
    ):
        a1 = commit_version(a, artifacts, "a1")
        a2 = commit_version(a, artifacts, "a2", pnl=2)  # stays unapproved
        b1 = commit_version(b, artifacts, "b1", pnl=3)
        assert b.approve("b1", "staging")["pushed"]
        # a's approved a1 sits under its unapproved a2: the push joins a1 (not a2) with b1
        approval = a.approve("a1", "prod")
        assert approval["pushed"] is True, approval["push_error"]
        assert a.stages(WF, TASK)[0]["stages"]["prod"]["correlation_id"] == "corr_a1"
    tip = git(bare_remote, "rev-parse", f"refs/heads/{BRANCH}")
    history = git(bare_remote, "rev-list", tip).split()
    assert a1["commit_sha"] in history and b1["commit_sha"] in history
    assert git(bare_remote, "cat-file", "-t", a2["commit_sha"], check=False) == ""
    refs = remote_refs(git, bare_remote)
    assert {"refs/tags/corr_a1", "refs/tags/corr_b1"} <= set(refs)
    assert "refs/tags/corr_a2" not in refs
    # a's branch still ends at its own unapproved version; nothing was rewritten
    assert git(repo, "rev-parse", f"refs/heads/{BRANCH}") == a2["commit_sha"]
    assert git(repo, "rev-parse", "corr_a1^{commit}") == a1["commit_sha"]
    assert "error" not in git(bare_remote, "fsck", "--no-progress")
    # a third runner learns the stages with a fetch of the task
    third = tmp_path / "third"
    git(tmp_path, "clone", "-q", "--no-tags", str(bare_remote), str(third))
    with make_store(third, auto_push=False) as c:
        c.fetch(WF, TASK)
        stages = c.stages(WF, TASK)[0]["stages"]
        assert stages["prod"]["commit_sha"] == a1["commit_sha"]
        assert stages["staging"]["commit_sha"] == b1["commit_sha"]
        assert c.find_version(f"{WF}/{TASK}@prod")["correlation_id"] == "corr_a1"


def test_the_plugin_keeps_an_unapproved_session_local_and_compares_with_a_stage(
    pytester_git: None,
    pytester: pytest.Pytester,
    repo: Path,
    bare_remote: Path,
    artifacts: dict[str, Path],
    git: GitRunner,
) -> None:
    with make_store(repo, auto_push=False) as store:
        commit_version(store, artifacts, "v1", pnl=5)
        commit_version(store, artifacts, "v2", pnl=1)
        store.approve("v1", "prod", push=False)
    pytester.makeini(
        f"[pytest]\nartifact_store_repo = {repo}\nartifact_store_workflow_id = {WF}\n"
        f"artifact_store_task_id = {TASK}\nartifact_store_require_approval = true\n"
    )
    pytester.makepyfile(
        """
        def test_pnl(artifact_store, artifact_baseline):
            assert artifact_baseline.correlation_id == "corr_v1"
            artifact_store.record_metric("pnl", artifact_baseline.metrics["pnl"] + 1)
        """
    )
    result = pytester.runpytest_subprocess(
        "--artifact-store", "--artifact-correlation-id=v3", "--artifact-baseline=@prod"
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert "awaits approval" in result.stdout.str() + result.stderr.str()
    assert git(repo, "rev-parse", "corr_v3^{commit}")
    assert "refs/tags/corr_v3" not in remote_refs(git, bare_remote)


def test_the_command_and_the_hook_honour_the_projects_pytest_ini(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    (repo / "pytest.ini").write_text("[pytest]\nartifact_store_require_approval = true\n")
    with make_store(repo, auto_push=False) as store:
        commit_version(store, artifacts, "c1")
    cli = push_cli(repo)
    assert cli.returncode == 0, cli.stderr
    assert f"awaiting approval {BRANCH}: corr_c1" in cli.stdout
    assert "refs/tags/corr_c1" not in remote_refs(git, bare_remote)
    assert cli_main(["--repo", str(repo), "install-hooks"]) == 0
    push = subprocess.run(
        ["git", "push", "origin", BRANCH],
        cwd=repo,
        env={**os.environ, "ARTIFACT_STORE_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
    )
    assert push.returncode != 0 and "not approved" in push.stderr
    # the clone's git config says otherwise: it wins over the project's file
    git(repo, "config", "artifactstore.requireApproval", "false")
    assert "pushed " + BRANCH in push_cli(repo).stdout
