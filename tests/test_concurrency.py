"""Concurrent writers never lose a commit (SPEC §4): real processes and threads."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    repo, worker, count, task = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    store = ArtifactStore(ArtifactStoreConfig(repo_path=Path(repo), auto_push=False))
    src = Path(repo).parent / f"w{worker}"
    src.mkdir(exist_ok=True)
    for i in range(count):
        f = src / "strategy.py"
        f.write_text(f"worker {worker} version {i}\\n")
        t = task if task != "own" else f"task_{worker}"
        store.commit_artifacts("wf", t, [f], correlation_id=f"w{worker}_v{i}")
    """
)


def _run_writers(repo: Path, workers: int, count: int, task: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(repo), str(w), str(count), task],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(workers)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()


def test_six_processes_times_five_commits_on_one_branch_lose_nothing(repo, git):
    _run_writers(repo, 6, 5, "task_shared")
    branch = "ai/generated/wf/task_shared"
    assert git(repo, "rev-list", "--count", f"main..{branch}") == "30"
    subjects = git(repo, "log", "--format=%s", f"main..{branch}").splitlines()
    assert sorted(subjects) == sorted(
        f"artifacts(wf/task_shared): corr_w{w}_v{i}" for w in range(6) for i in range(5)
    )
    # linear history and every tag on the branch
    assert git(repo, "rev-list", "--merges", f"main..{branch}") == ""
    on_branch = set(git(repo, "rev-list", f"main..{branch}").splitlines())
    tags = git(repo, "tag", "-l", "corr_*").splitlines()
    assert len(tags) == 30
    for tag in tags:
        assert git(repo, "rev-parse", f"{tag}^{{commit}}") in on_branch
    # each version's metadata names its true parent
    for sha in on_branch:
        meta = json.loads(git(repo, "show", f"{sha}:Backtest/codes/task_shared/metadata.json"))
        assert meta["base_commit"] == git(repo, "rev-parse", f"{sha}^")
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
    assert len(ArtifactStore(ArtifactStoreConfig(repo_path=repo)).list_artifacts(limit=None)) == 30


def test_processes_on_different_branches(repo, git):
    _run_writers(repo, 4, 3, "own")
    for w in range(4):
        assert git(repo, "rev-list", "--count", f"main..ai/generated/wf/task_{w}") == "3"


def test_threads_sharing_one_store(repo, git, tmp_path):
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(4):
                f = tmp_path / f"t{n}_{i}.py"
                f.write_text(f"thread {n} v{i}\n")
                store.commit_artifacts(
                    "wf", "threads", {"strategy.py": f}, correlation_id=f"t{n}_{i}"
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert git(repo, "rev-list", "--count", "main..ai/generated/wf/threads") == "16"
