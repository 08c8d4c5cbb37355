"""Random ids, file names and metadata: every call commits something git fsck accepts
or raises ArtifactStoreError with refs unchanged -- never another exception type."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError

PIECES = [
    *"abcXYZ019._-/\\ ~^:?*[@{}\n\t\r\x00\x7f",
    "..",
    ".lock",
    "corr_",
    "é",
    "\u200c",
    "😀",
]
ODD_TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.characters()), max_size=40).map(
    "".join
) | st.text(alphabet="abcdef0123456789._-", min_size=95, max_size=135)
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=8),
    st.sets(st.integers(), max_size=2),
)
METADATA = st.dictionaries(
    st.one_of(
        st.text(max_size=20),
        st.integers(),
        st.sampled_from(["workflow_id", "files", "test_metrics", "agent_version", "test_status"]),
    ),
    st.recursive(
        JSON_LEAF,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=4,
)


def _snapshot(repo: Path) -> str:
    return subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout.decode()


def _fsck(repo: Path) -> None:
    proc = subprocess.run(
        ["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr.decode()


@pytest.fixture(scope="module")
def shared_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "README.md").write_text("x\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e.x", "commit", "-qm", "i"],
        cwd=path,
        check=True,
    )
    return path


def _attempt(repo: Path, **kwargs: object) -> None:
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    before = _snapshot(repo)
    try:
        result = store.commit_artifacts(**kwargs)  # type: ignore[arg-type]
    except ArtifactStoreError as exc:
        assert _snapshot(repo) == before, f"refs changed on refusal: {exc}"
        return
    finally:
        store.close()
    assert result["success"] is True
    _fsck(repo)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    workflow=ODD_TEXT,
    task=ODD_TEXT,
    corr=st.one_of(st.none(), ODD_TEXT),
    prompt=st.one_of(st.none(), ODD_TEXT),
)
def test_random_ids(shared_repo, tmp_path_factory, workflow, task, corr, prompt):
    src = shared_repo.parent / "a.csv"
    src.write_text("a,b\n1,2\n")
    _attempt(
        shared_repo,
        workflow_id=workflow,
        task_id=task,
        files=[src],
        correlation_id=corr,
        prompt_hash=prompt,
    )


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(names=st.lists(ODD_TEXT, min_size=1, max_size=3), data=st.binary(min_size=0, max_size=64))
def test_random_destination_names(shared_repo, names, data):
    src = shared_repo.parent / "payload.bin"
    src.write_bytes(data)
    _attempt(
        shared_repo,
        workflow_id="wf",
        task_id="names",
        files={n: src for n in names},
        correlation_id=None if len(names) else "x",
    )


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(metadata=METADATA)
def test_random_metadata(shared_repo, metadata):
    src = shared_repo.parent / "m.csv"
    src.write_text("a,b\n1,2\n")
    try:
        key = json.dumps(metadata, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        key = repr(metadata)
    _attempt(
        shared_repo,
        workflow_id="wf",
        task_id="meta",
        files=[src],
        metadata=metadata,
        correlation_id=f"m{abs(hash(key))}",
    )


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=st.text(
        alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=60,
    )
)
def test_odd_file_names_on_disk(shared_repo, tmp_path_factory, name):
    folder = tmp_path_factory.mktemp("odd")
    try:
        path = folder / name
        path.write_text("x\n")
    except (OSError, ValueError):
        return  # the filesystem itself refuses the name
    _attempt(shared_repo, workflow_id="wf", task_id="ondisk", files=[path], correlation_id=None)


UNREADABLE = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError
    store = ArtifactStore(ArtifactStoreConfig(repo_path=Path(sys.argv[1]), auto_push=False))
    store.warm_up()  # the scanner is imported on first use; nobody cannot read root's Python
    if os.geteuid() == 0:  # become nobody: root reads a file whatever its mode
        os.setgid(65534)
        os.setuid(65534)
    try:
        store.commit_artifacts("wf", "t", [Path(sys.argv[2])], correlation_id="c")
    except ArtifactStoreError as exc:
        print(exc)
        sys.exit(3)
    """
)


def test_unreadable_file_is_refused_by_name(git):
    top = Path(tempfile.mkdtemp(prefix="unreadable-"))  # world-traversable, unlike tmp_path
    try:
        top.chmod(0o755)
        repo = top / "repo"
        git(top, "init", "-q", str(repo))
        path = top / "locked.csv"
        path.write_text("a\n")
        path.chmod(0)
        before = _snapshot(repo)
        proc = subprocess.run(
            [sys.executable, "-c", UNREADABLE, str(repo), str(path)], capture_output=True
        )
        assert proc.returncode == 3, proc.stderr.decode()
        assert "locked.csv" in proc.stdout.decode()
        assert "not readable" in proc.stdout.decode()
        assert _snapshot(repo) == before
    finally:
        shutil.rmtree(top)


BIG = textwrap.dedent(
    """
    import json, os, resource, sys
    from pathlib import Path
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
    repo, src, limit = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False, max_file_size=limit))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = store.commit_artifacts("wf", "big", [src], correlation_id="big1")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"sha": r["commit_sha"], "base_kb": base, "peak_kb": peak}))
    """
)


def test_large_binary_file_commits_once_in_memory(repo, git, tmp_path):
    size = 90 * 1024 * 1024
    src = tmp_path / "prices.parquet"
    with open(src, "wb") as fh:  # binary, incompressible-ish, NULs included
        block = os.urandom(1024 * 1024)
        for i in range(size // len(block)):
            fh.write(block[i:] + block[:i])
    proc = subprocess.run(
        [sys.executable, "-c", BIG, str(repo), str(src), str(100 * 1024 * 1024)],
        capture_output=True,
        check=True,
    )
    out = json.loads(proc.stdout)
    added_mb = (out["peak_kb"] - out["base_kb"]) / 1024
    print(f"peak RSS grew by {added_mb:.0f} MB committing a 90 MB file")
    assert added_mb < 90 * 1.6, f"peak RSS grew by {added_mb:.0f} MB for a 90 MB file"
    blob = git(repo, "rev-parse", f"{out['sha']}:Backtest/codes/big/prices.parquet")
    assert blob == git(repo, "hash-object", str(src))
    assert git(repo, "cat-file", "-s", blob) == str(size)
    _fsck(repo)


def test_file_over_max_file_size_is_refused(repo, git, tmp_path):
    src = tmp_path / "huge.bin"
    with open(src, "wb") as fh:
        fh.truncate(5 * 1024 * 1024 + 1)
    before = _snapshot(repo)
    store = ArtifactStore(
        ArtifactStoreConfig(repo_path=repo, auto_push=False, max_file_size=5 * 1024 * 1024)
    )
    with pytest.raises(ArtifactStoreError, match=r"huge\.bin.*max_file_size"):
        store.commit_artifacts("wf", "t", [src], correlation_id="c")
    assert _snapshot(repo) == before
