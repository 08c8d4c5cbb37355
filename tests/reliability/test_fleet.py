"""Many machines, one remote (SPEC §4 "Immutable versions", §6): a fleet of runner
processes, each with its own clone, pushing to one `git daemon` on 127.0.0.1 at once,
most of them to the same task, some SIGKILLed mid-push; then every clone pushes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fleet_support import git_daemon, run_fleet

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

HOT = "hot"


@pytest.fixture
def served(tmp_path: Path, repo: Path, git) -> tuple[Path, Path]:
    """A bare remote (a copy of ``repo``) under a directory `git daemon` serves."""
    base = tmp_path / "served"
    base.mkdir()
    bare = base / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    return base, bare


def test_a_fleet_racing_one_task_loses_rewrites_and_duplicates_nothing(tmp_path, served, git):
    base, bare = served
    # 12 runners: 7 on one task, the rest two each on others; 3 killed at random moments
    tasks = {f"r{i:02d}": HOT if i < 7 else f"t{i % 3}" for i in range(12)}
    with git_daemon(base) as prefix:
        fleet = run_fleet(tmp_path / "fleet", f"{prefix}/remote.git", tasks, 3, kill=3, seed=13)
        # every clone, the killed ones too, delivers what it has
        for name, clone in fleet.clones.items():
            pending = ArtifactStore(
                ArtifactStoreConfig(repo_path=clone, push_timeout=60)
            ).push_pending()
            assert pending["success"] is True, (name, pending["errors"])

    survivors = [r for r in fleet.reports if r["runner"] not in fleet.killed]
    assert len(survivors) == 3 * (12 - 3)
    # no race among the survivors ended in pushed: False
    assert [r for r in survivors if not r["pushed"]] == []

    remote = ArtifactStore(ArtifactStoreConfig(repo_path=bare))
    listed = remote.list_artifacts(limit=None)
    shas = [e["commit_sha"] for e in listed]
    corrs = [e["correlation_id"] for e in listed]
    assert len(shas) == len(set(shas)) and len(corrs) == len(set(corrs))  # each once
    # listed newest first by commit_timestamp, and no join commit is a version
    stamps = [e["commit_timestamp"] for e in listed]
    assert stamps == sorted(stamps, reverse=True)
    joins = set(git(bare, "rev-list", "--merges", "--all").split())
    assert joins and not joins & set(shas)
    for join in joins:
        assert git(bare, "tag", "--points-at", join) == ""
    # every version any runner was told about is on its task's branch, with its tag
    for r in fleet.reports:
        branch = f"ai/generated/wf/{r['task']}"
        on_branch = subprocess.run(
            ["git", "merge-base", "--is-ancestor", str(r["sha"]), branch], cwd=bare
        )
        assert on_branch.returncode == 0, r
        assert git(bare, "rev-parse", f"{r['corr']}^{{commit}}") == r["sha"]
        assert r["corr"] in corrs
    # every version a clone holds reached the remote, under the commit id it was made with
    for clone in fleet.clones.values():
        for entry in ArtifactStore(ArtifactStoreConfig(repo_path=clone)).list_artifacts(limit=None):
            assert entry["commit_sha"] in shas
            assert (
                git(clone, "rev-parse", f"{entry['correlation_id']}^{{commit}}")
                == (entry["commit_sha"])
            )
    # each task's versions are listed in full on the remote (nothing lost, nothing twice)
    made = {r["corr"] for r in fleet.reports}
    assert made <= set(corrs)
    hot = remote.list_artifacts(task_id=HOT, limit=None)
    assert len(hot) >= 3 * (7 - sum(n in fleet.killed for n, t in tasks.items() if t == HOT))
    assert git(bare, "fsck", "--strict", "--no-dangling") == ""
    for clone in fleet.clones.values():
        assert git(clone, "fsck", "--strict", "--no-dangling") == ""
