"""Push against real local servers: git daemon, a silent listener, a refusing remote,
and two clones racing to the same task branch (SPEC §6)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_support import free_port, git_daemon

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

BRANCH = "ai/generated/wf/t1"


@pytest.fixture
def daemon(tmp_path: Path, git, repo: Path) -> Iterator[tuple[str, Path]]:
    """A real `git daemon` on 127.0.0.1 serving a bare repository that accepts pushes."""
    base = tmp_path / "served"
    base.mkdir()
    bare = base / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    with git_daemon(base) as prefix:
        yield f"{prefix}/remote.git", bare


def commit(repo: Path, corr: str, **kw: object) -> dict:
    src = repo.parent / f"{corr}.py"
    src.write_text(f"# {corr}\n")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, **kw))  # type: ignore[arg-type]
    return store.commit_artifacts("wf", "t1", [src], correlation_id=corr)


def test_push_through_git_daemon(repo, git, daemon):
    url, bare = daemon
    git(repo, "remote", "add", "origin", url)
    result = commit(repo, "c1", push_timeout=20)
    assert result["pushed"] is True, result["push_error"]
    assert git(bare, "rev-parse", BRANCH) == result["commit_sha"]
    assert git(bare, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]


def test_daemon_down_then_push_pending_delivers(repo, git, daemon, tmp_path):
    url, bare = daemon
    dead = f"git://127.0.0.1:{free_port()}/remote.git"
    git(repo, "remote", "add", "origin", dead)
    result = commit(repo, "c1", push_timeout=5)
    assert result["pushed"] is False and result["push_error"]
    git(repo, "remote", "set-url", "origin", url)
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, push_timeout=20))
    assert store.push_pending()["pushed"] == [BRANCH]
    assert git(bare, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]


def _children_of(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append((int(entry), fields[0]))
    return found


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmd and int(entry) != os.getpid():
                found.append(int(entry))
    return found


def test_silent_listener_times_out_kills_the_group_and_leaves_no_zombie(repo, git, silent_server):
    port = silent_server
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{port}/never.git")
    start = time.monotonic()
    result = commit(repo, "c1", push_timeout=2)
    elapsed = time.monotonic() - start
    assert result["pushed"] is False and "timed out" in result["push_error"]
    assert elapsed < 2 + 5
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    time.sleep(0.3)
    assert [c for c in _children_of(os.getpid()) if c[1] == "Z"] == []
    assert _processes_mentioning(f"127.0.0.1:{port}") == []


RACER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    clone, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = ArtifactStore(ArtifactStoreConfig(repo_path=clone, push_timeout=60))
    for i in range(count):
        src = clone.parent / f"{name}_{i}.py"
        src.write_text(f"{name} {i}\\n")
        r = store.commit_artifacts("wf", "t1", [src], correlation_id=f"{name}_{i}")
        print(r["commit_sha"], r["pushed"], r["push_error"], flush=True)
    """
)


def test_two_clones_pushing_the_same_task_branch_lose_nothing(tmp_path, repo, git):
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    clones = []
    for name in ("left", "right"):
        clone = tmp_path / name
        git(tmp_path, "clone", "-q", str(bare), str(clone))
        clones.append((name, clone))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(c), n, "5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n, c in clones
    ]
    returned = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
        returned += [line.split(" ", 2) for line in out.decode().splitlines()]
    # every race was joined and retried: each commit was pushed when it was made
    assert [r[1:] for r in returned] == [["True", "None"]] * 10
    subjects = git(bare, "log", "--format=%s", f"main..{BRANCH}").splitlines()
    versions = [s for s in subjects if not s.startswith("join(")]
    expected = {f"artifacts(wf/t1): corr_{n}_{i}" for n, _ in clones for i in range(5)}
    assert set(versions) == expected and len(versions) == 10
    on_branch = set(git(bare, "rev-list", f"main..{BRANCH}").splitlines())
    assert {r[0] for r in returned} <= on_branch  # the shas returned are the pushed ones
    for n, _ in clones:
        for i in range(5):
            assert git(bare, "rev-parse", f"corr_{n}_{i}^{{commit}}") in on_branch
    assert git(bare, "fsck", "--strict", "--no-dangling") == ""
