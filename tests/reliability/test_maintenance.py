"""Beside git's own maintenance (SPEC §4): commits racing `git gc`, `git prune
--expire=now`, `git maintenance` and `git pack-refs` never fail with a raw OS error and
never leave a reference to a pruned object. (`git gc --prune=now` is not among them: its
`repack -a` drops packed objects no ref reached when it looked, for git's own writers too.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

CHURN = textwrap.dedent(
    """
    import os
import signal
import subprocess, sys, time
    repo, until = sys.argv[1], float(sys.argv[2])
    commands = [
        ["git", "prune", "--expire=now"],
        ["git", "gc", "--quiet"],
        ["git", "maintenance", "run", "--task=gc", "--task=loose-objects", "--quiet"],
        ["git", "pack-refs", "--all", "--prune"],
        ["git", "prune", "--expire=now"],
        ["git", "repack", "-a", "-d", "-q"],
        ["git", "maintenance", "run", "--task=incremental-repack", "--quiet"],
        ["git", "prune", "--expire=now"],
    ]
    i = 0
    while time.time() < until:
        subprocess.run(commands[i % len(commands)], cwd=repo, capture_output=True)
        i += 1
    print(i)
    """
)


@pytest.mark.parametrize("rounds", [40])
def test_commits_racing_gc_prune_and_maintenance_stay_whole(
    repo, git, tmp_path, rounds, monkeypatch
):
    from pytest_artifact_store.git import repository

    # the store's own `git gc --auto` (past gc.autoPackLimit) joins the churn
    monkeypatch.setattr(repository, "_PACK_LIMIT", 4)
    git(repo, "config", "gc.autoPackLimit", "4")
    src = tmp_path / "out"
    src.mkdir()
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    churn = subprocess.Popen(
        [sys.executable, "-c", CHURN, str(repo), str(time.time() + 120)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    made = []
    try:
        for i in range(rounds):
            # the same trades file every other round: reused (old, unreachable) objects too
            (src / "trades.csv").write_text(f"t,p\n{i % 2},1\n")
            (src / "strategy.py").write_text(f"# round {i}\n")
            result = store.commit_artifacts(
                "wf", f"t{i % 3}", [src / "trades.csv", src / "strategy.py"], correlation_id=f"c{i}"
            )
            made.append(result["commit_sha"])
    finally:  # stop the churn and the git it runs (fsck must not race a repack)
        os.killpg(churn.pid, signal.SIGTERM)
        churn.wait()
        for proc in repository._DETACHED:
            proc.wait(timeout=60)
        time.sleep(0.5)
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
    for i, sha in enumerate(made):
        assert git(repo, "rev-parse", f"c{i}^{{commit}}".replace("c", "corr_c", 1)) == sha
        git(repo, "ls-tree", "-r", sha)  # every tree readable
