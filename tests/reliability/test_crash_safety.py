"""A writer SIGKILLed at random moments leaves the old or the new state, fsck-clean (SPEC §4)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fleet_support import wait_for_quiet

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError

BRANCH = "ai/generated/wf/crash"
TRIALS = 16

LOOP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    repo, trial = Path(sys.argv[1]), sys.argv[2]
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    out = repo.parent / f"out{trial}"
    out.mkdir(exist_ok=True)
    i = 0
    while True:
        (out / "trades.csv").write_text("t,p\\n" + f"{trial},{i}\\n" * 2000)
        (out / "strategy.py").write_text(f"VERSION = '{trial}.{i}'\\n")
        store.commit_artifacts("wf", "crash", [out / "trades.csv", out / "strategy.py"],
                               correlation_id=f"k{trial}_{i}", prompt_hash="abcdef12")
        print(i, flush=True)
        i += 1
    """
)


def check_consistent(repo: Path, git) -> int:
    """fsck clean; every version on the branch has its tag; every tag is on the branch."""
    wait_for_quiet(repo)  # the store's detached maintenance may be repacking
    proc = subprocess.run(
        ["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr.decode()
    if not git(repo, "for-each-ref", f"refs/heads/{BRANCH}"):
        assert git(repo, "tag", "-l", "corr_*") == ""
        return 0
    on_branch = git(repo, "rev-list", f"main..{BRANCH}").splitlines()
    for sha in on_branch:
        corr = git(repo, "log", "-1", "--format=%(trailers:key=Correlation-Id,valueonly)", sha)
        assert git(repo, "rev-parse", f"{corr}^{{commit}}") == sha
        meta = json.loads(git(repo, "show", f"{sha}:Backtest/codes/crash/metadata.json"))
        assert meta["correlation_id"] == corr
    for tag in git(repo, "tag", "-l", "corr_*").splitlines():
        assert git(repo, "rev-parse", f"{tag}^{{commit}}") in on_branch
    assert git(repo, "rev-parse", "prompt_abcdef12^{commit}") == on_branch[-1]
    return len(on_branch)


def test_sigkill_at_random_moments_never_corrupts(repo, git):
    rng = random.Random(20261125)
    total = 0
    for trial in range(TRIALS):
        child = subprocess.Popen(
            [sys.executable, "-c", LOOP, str(repo), str(trial)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        child.stdout.readline()  # at least one commit landed, then kill at a random moment
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
        count = check_consistent(repo, git)
        assert count > total
        total = count
        # a new commit succeeds right after the kill
        src = repo.parent / f"after{trial}.py"
        src.write_text(f"after {trial}\n")
        ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)).commit_artifacts(
            "wf", "crash", [src], correlation_id=f"after{trial}"
        )
        total = check_consistent(repo, git)


def _unlock(repo: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_artifact_store.cli", "--repo", str(repo), "unlock"],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip().splitlines()


def test_stale_lock_is_reported_by_name_and_nothing_is_overwritten(repo, git, artifacts):
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    store.commit_artifacts("wf", "crash", list(artifacts.values()), correlation_id="c0")
    lock = repo / ".git" / "refs" / "heads" / "ai" / "generated" / "wf" / "crash.lock"
    lock.write_text("held by another writer\n")
    before = git(repo, "for-each-ref")
    start = time.monotonic()
    artifacts["trades.csv"].write_text("t,p\n9,9\n")
    with pytest.raises(ArtifactStoreError) as info:
        store.commit_artifacts("wf", "crash", list(artifacts.values()), correlation_id="c1")
    assert time.monotonic() - start < 30
    assert str(lock) in str(info.value)
    assert "'artifact-store unlock' removes the locks no live process holds" in str(info.value)
    assert lock.read_text() == "held by another writer\n"
    assert git(repo, "for-each-ref") == before
    # the way forward: `artifact-store unlock` keeps young and held locks, removes stale ones
    store.close()  # its long-lived git processes work in the repository: they count as holders
    held = repo / ".git" / "refs" / "tags" / "held.lock"
    with held.open("w"):
        old = time.time() - 600
        os.utime(held, (old, old))
        said = _unlock(repo)
        assert f"kept {held} (held by a running git process)" in said
        assert [line for line in said if line.startswith(f"kept {lock} (only ")], said
        os.utime(lock, (old, old))
        said = _unlock(repo)
        assert f"kept {held} (held by a running git process)" in said
        # 600 s old when it was dated; seconds may pass before unlock looks (a loaded machine)
        removed = [
            int(m.group(1))
            for line in said
            if (m := re.fullmatch(rf"removed {re.escape(str(lock))} \((\d+) s old\)", line))
        ]
        assert len(removed) == 1 and 600 <= removed[0] <= 660, said
    assert held.exists() and not lock.exists()
    held.unlink()
    result = store.commit_artifacts("wf", "crash", list(artifacts.values()), correlation_id="c1")
    assert git(repo, "rev-parse", "ai/generated/wf/crash") == result["commit_sha"]


def test_a_dead_long_lived_git_is_replaced_and_no_version_is_lost(repo, git, artifacts):
    """Reads and ref updates go through long-lived git processes; if one dies between
    calls (killed, OOM), the next call starts a new one."""
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    first = store.commit_artifacts("wf", "t", list(artifacts.values()), correlation_id="c0")
    for helper in (store.repo._updater._proc, store.repo._cat._proc):
        assert helper is not None and helper.poll() is None
        os.kill(helper.pid, signal.SIGKILL)
        helper.wait()
    artifacts["trades.csv"].write_text("t,p\n7,7\n")
    second = store.commit_artifacts("wf", "t", list(artifacts.values()), correlation_id="c1")
    assert git(repo, "rev-parse", "ai/generated/wf/t") == second["commit_sha"]
    assert git(repo, "rev-parse", "ai/generated/wf/t^") == first["commit_sha"]
    assert git(repo, "rev-parse", "corr_c1^{commit}") == second["commit_sha"]
    store.close()
    assert store.repo._updater._proc is None and store.repo._cat._proc is None
