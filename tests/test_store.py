"""ArtifactStore.commit_artifacts: what lands in git (SPEC §2-§4), checked with the git CLI."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_artifact_store import (
    ArtifactStore,
    ArtifactStoreConfig,
    ArtifactStoreError,
    SecretDetectedError,
)

BRANCH = "ai/generated/wf_rsi/task_001"
TASK_DIR = "Backtest/codes/task_001"


def make_store(repo: Path, **kw: object) -> ArtifactStore:
    kw.setdefault("auto_push", False)
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo, **kw))  # type: ignore[arg-type]


def commit(store: ArtifactStore, files: object, corr: str | None = "corr_abc123", **kw: object):
    return store.commit_artifacts("wf_rsi", "task_001", files, correlation_id=corr, **kw)  # type: ignore[arg-type]


def git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True).stdout


def refs(git, repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def objects(git, repo: Path) -> str:
    return git(repo, "cat-file", "--batch-all-objects", "--batch-check")


def repo_state(git, repo: Path) -> dict[str, object]:
    """Everything commit/list/get must leave alone: HEAD, index, work tree, stash, status."""
    gitdir = Path(git(repo, "rev-parse", "--absolute-git-dir"))
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    return {
        "HEAD": (gitdir / "HEAD").read_bytes(),
        "index": (gitdir / "index").read_bytes() if (gitdir / "index").exists() else None,
        "status": git(repo, "status", "--porcelain=v2", "--branch"),
        "stash": git(repo, "stash", "list"),
        "files": files,
        "locks": sorted(str(p) for p in gitdir.rglob("*.lock")),
    }


def test_seed_basic_usage_commits_branch_tree_tags_and_metadata(repo, git, artifacts):
    store = make_store(repo)
    result = commit(
        store,
        list(artifacts.values()),
        metadata={
            "agent_version": "coder-v1.0",
            "llm_version": "gpt-4",
            "test_metrics": {"total_trades": 12, "net_pnl": 120.5},
        },
        prompt_hash="7A8B9C0D1E2F3A4B",
    )
    assert result["success"] is True
    assert result["created"] is True
    assert result["branch"] == BRANCH
    assert result["tags"] == ["corr_abc123", "prompt_7a8b9c0d1e2f3a4b"]
    assert result["pushed"] is False and result["push_error"] == "auto_push is off"
    sha = result["commit_sha"]
    assert git(repo, "rev-parse", f"refs/heads/{BRANCH}") == sha
    # exactly the artifact set plus metadata.json, bytes identical
    tree = git(repo, "ls-tree", "-r", "--name-only", sha, TASK_DIR).splitlines()
    assert sorted(tree) == sorted(
        [f"{TASK_DIR}/{n}" for n in artifacts] + [f"{TASK_DIR}/metadata.json"]
    )
    for name, src in artifacts.items():
        blob = git(repo, "rev-parse", f"{sha}:{TASK_DIR}/{name}")
        assert git(repo, "hash-object", str(src)) == blob
    # the rest of the tree is the parent's
    assert git(repo, "rev-parse", f"{sha}:src") == git(repo, "rev-parse", "main:src")
    assert git(repo, "rev-parse", f"{sha}^") == git(repo, "rev-parse", "main")
    # annotated tags pointing at the commit
    for tag in result["tags"]:
        assert git(repo, "cat-file", "-t", f"refs/tags/{tag}") == "tag"
        assert git(repo, "rev-parse", f"{tag}^{{commit}}") == sha
    # message and trailers
    assert git(repo, "log", "-1", "--format=%s", sha) == "artifacts(wf_rsi/task_001): corr_abc123"
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)", sha)
    assert "Workflow-Id: wf_rsi" in trailers and "Task-Id: task_001" in trailers
    assert "Correlation-Id: corr_abc123" in trailers and "Prompt-Hash: 7a8b9c0d1e2f3a4b" in trailers
    assert "Agent-Version: coder-v1.0" in trailers and "LLM-Version: gpt-4" in trailers
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%ad", "--date=raw", sha).startswith(
        "algo-agent-bot <algo-agent@example.com>|algo-agent-bot <algo-agent@example.com>|"
    )
    assert git(repo, "log", "-1", "--format=%ad", "--date=raw", sha).endswith("+0000")
    # metadata.json
    raw = git(repo, "cat-file", "blob", f"{sha}:{TASK_DIR}/metadata.json")
    meta = json.loads(raw)
    assert meta["schema_version"] == 1
    assert meta["workflow_id"] == "wf_rsi" and meta["task_id"] == "task_001"
    assert meta["correlation_id"] == "corr_abc123"
    assert meta["prompt_hash"] == "7a8b9c0d1e2f3a4b"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", meta["commit_timestamp"])
    assert meta["test_metrics"] == {"total_trades": 12, "net_pnl": 120.5}
    assert meta["agent_version"] == "coder-v1.0" and meta["llm_version"] == "gpt-4"
    assert meta["files"][-1] == f"{TASK_DIR}/metadata.json"
    assert set(meta["files"]) == set(tree)
    assert (
        meta["file_sha256"]["trades.csv"]
        == hashlib.sha256(artifacts["trades.csv"].read_bytes()).hexdigest()
    )
    assert meta["base_commit"] == git(repo, "rev-parse", "main")
    assert result["files"] == meta["files"]
    blob = git(repo, "cat-file", "blob", f"{sha}:{TASK_DIR}/metadata.json")
    assert (repo / ".git").exists() and blob == raw
    raw_bytes = git_bytes(repo, "cat-file", "blob", f"{sha}:{TASK_DIR}/metadata.json")
    assert raw_bytes.endswith(b"}\n") and b'\n  "workflow_id"' in raw_bytes
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_work_tree_index_head_and_stash_untouched_on_a_dirty_tree(repo, git, artifacts):
    (repo / "README.md").write_text("# changed, unstaged\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "untracked.txt").write_text("untracked\n")
    (repo / "src" / "app.py").write_text("print('stash me')\n")
    git(repo, "stash", "push", "-q", "--", "src/app.py")
    before = repo_state(git, repo)
    store = make_store(repo)
    commit(store, list(artifacts.values()))
    store.list_artifacts()
    store.get_artifact_by_correlation_id("abc123")
    store.close()
    assert repo_state(git, repo) == before


def test_detached_head_is_left_detached(repo, git, artifacts):
    git(repo, "checkout", "-q", "--detach")
    head = git(repo, "rev-parse", "HEAD")
    result = commit(make_store(repo), list(artifacts.values()))
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "symbolic-ref", "-q", "HEAD", check=False) == ""
    assert git(repo, "rev-parse", f"{result['commit_sha']}^") == head


def test_empty_repository_gets_a_root_commit(tmp_path, git, artifacts):
    repo = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(repo))
    result = commit(make_store(repo), list(artifacts.values()))
    assert git(repo, "rev-list", "--count", BRANCH) == "1"
    assert git(repo, "log", "-1", "--format=%P", BRANCH) == ""
    assert git(repo, "ls-tree", "--name-only", BRANCH) == "Backtest"
    meta = json.loads(git(repo, "show", f"{BRANCH}:{TASK_DIR}/metadata.json"))
    assert meta["base_commit"] is None
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False) == ""
    assert result["created"]


def test_bare_repository(tmp_path, git, repo, artifacts):
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    result = commit(make_store(bare), list(artifacts.values()))
    assert git(bare, "rev-parse", BRANCH) == result["commit_sha"]
    assert git(bare, "rev-parse", f"{BRANCH}^") == git(bare, "rev-parse", "main")
    assert git(bare, "fsck", "--strict", "--no-dangling") == ""


def test_linked_worktree_writes_to_the_shared_repository(tmp_path, git, repo, artifacts):
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    (wt / "wip.txt").write_text("dirty\n")
    before = repo_state(git, wt)
    result = commit(make_store(wt), list(artifacts.values()))
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    assert git(repo, "rev-parse", f"{BRANCH}^") == git(repo, "rev-parse", "feature")
    assert repo_state(git, wt) == before


def test_next_version_replaces_the_task_directory_exactly(repo, git, artifacts, tmp_path):
    store = make_store(repo)
    first = commit(store, list(artifacts.values()))
    new = tmp_path / "v2.py"
    new.write_text("print('v2')\n")
    second = commit(
        store, {"strategy.py": new, "extra/notes.txt": artifacts["events.log"]}, corr="corr_v2"
    )
    assert git(repo, "rev-parse", f"{second['commit_sha']}^") == first["commit_sha"]
    names = git(repo, "ls-tree", "-r", "--name-only", second["commit_sha"]).splitlines()
    assert sorted(names) == sorted(
        [
            "README.md",
            "src/app.py",
            f"{TASK_DIR}/strategy.py",
            f"{TASK_DIR}/extra/notes.txt",
            f"{TASK_DIR}/metadata.json",
        ]
    )
    assert git(repo, "show", f"{second['commit_sha']}:{TASK_DIR}/strategy.py") == "print('v2')"
    meta = json.loads(git(repo, "show", f"{second['commit_sha']}:{TASK_DIR}/metadata.json"))
    assert meta["base_commit"] == first["commit_sha"]
    assert meta["files"] == [
        f"{TASK_DIR}/strategy.py",
        f"{TASK_DIR}/extra/notes.txt",
        f"{TASK_DIR}/metadata.json",
    ]


def test_directory_source_contributes_its_files_like_cp_r(repo, git, tmp_path):
    src = tmp_path / "outdir"
    (src / "plots").mkdir(parents=True)
    (src / "trades.csv").write_text("a,b\n1,2\n")
    (src / "plots" / "eq.svg").write_text("<svg/>\n")
    result = commit(make_store(repo), [src])
    names = git(repo, "ls-tree", "-r", "--name-only", result["commit_sha"], TASK_DIR).splitlines()
    assert names == [
        f"{TASK_DIR}/metadata.json",
        f"{TASK_DIR}/plots/eq.svg",
        f"{TASK_DIR}/trades.csv",
    ]


def test_executable_bit_is_kept(repo, git, tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    result = commit(make_store(repo), [script])
    assert git(repo, "ls-tree", result["commit_sha"], f"{TASK_DIR}/run.sh").startswith(
        "100755 blob"
    )


def test_base_ref_is_the_first_parent_of_a_new_task_branch(repo, git, artifacts):
    base = git(repo, "rev-parse", "HEAD")
    (repo / "later.txt").write_text("later\n")
    git(repo, "add", "later.txt")
    git(repo, "commit", "-q", "-m", "later")
    result = commit(make_store(repo, base_ref=base), list(artifacts.values()))
    assert git(repo, "rev-parse", f"{result['commit_sha']}^") == base
    with pytest.raises(ArtifactStoreError, match="base_ref 'nope'"):
        make_store(repo, base_ref="nope").commit_artifacts(
            "wf", "t2", list(artifacts.values()), correlation_id="x1"
        )


def test_correlation_id_forms_and_no_correlation_id(repo, git, artifacts):
    store = make_store(repo, require_correlation_id=False)
    assert commit(store, list(artifacts.values()), corr="abc")["tags"] == ["corr_abc"]
    result = store.commit_artifacts("wf_rsi", "task_002", list(artifacts.values()))
    assert result["tags"] == []
    assert (
        git(repo, "log", "-1", "--format=%s", result["commit_sha"]) == "artifacts(wf_rsi/task_002)"
    )
    meta = json.loads(
        git(repo, "show", f"{result['commit_sha']}:Backtest/codes/task_002/metadata.json")
    )
    assert meta["correlation_id"] is None and meta["prompt_hash"] is None


def test_prompt_tag_marks_the_first_artifact_and_never_moves(repo, git, artifacts):
    store = make_store(repo)
    first = commit(store, list(artifacts.values()), prompt_hash="abcdef12")
    artifacts["trades.csv"].write_text("time,side\n1,buy\n")
    second = commit(store, list(artifacts.values()), corr="corr_2", prompt_hash="abcdef12")
    assert second["tags"] == ["corr_2"]
    assert git(repo, "rev-parse", "prompt_abcdef12^{commit}") == first["commit_sha"]
    found = store.list_artifacts(prompt_hash="ABCDEF12")
    assert [e["commit_sha"] for e in found] == [second["commit_sha"], first["commit_sha"]]


def test_include_metadata_false_writes_no_metadata_json(repo, git, artifacts):
    store = make_store(repo, include_metadata=False)
    result = commit(
        store, list(artifacts.values()), metadata={"agent_version": "a1"}, prompt_hash="abcdef"
    )
    names = git(repo, "ls-tree", "--name-only", result["commit_sha"] + ":" + TASK_DIR).splitlines()
    assert "metadata.json" not in names
    assert "metadata.json" not in str(result["files"])
    entry = store.get_artifact_by_correlation_id("abc123")
    assert entry is not None
    assert entry["workflow_id"] == "wf_rsi" and entry["task_id"] == "task_001"
    assert entry["correlation_id"] == "corr_abc123" and entry["prompt_hash"] == "abcdef"
    assert entry["agent_version"] == "a1" and entry["commit_sha"] == result["commit_sha"]


# --------------------------------------------------------------------- idempotency


def test_identical_repeat_returns_the_existing_commit(repo, git, artifacts):
    store = make_store(repo)
    meta = {"test_metrics": {"net_pnl": 1.5}, "agent_version": "v1"}
    first = commit(store, list(artifacts.values()), metadata=meta)
    before = refs(git, repo)
    again = commit(store, list(artifacts.values()), metadata=meta)
    assert again["created"] is False
    assert again["commit_sha"] == first["commit_sha"]
    assert again["tags"] == first["tags"]
    assert refs(git, repo) == before


@pytest.mark.parametrize("change", ["file", "metadata", "task"])
def test_same_correlation_id_with_different_content_is_refused(repo, git, artifacts, change):
    store = make_store(repo)
    commit(store, list(artifacts.values()), metadata={"agent_version": "v1"})
    before = refs(git, repo)
    meta = {"agent_version": "v1"}
    if change == "file":
        artifacts["trades.csv"].write_text("different\n")
    elif change == "metadata":
        meta = {"agent_version": "v2"}
    with pytest.raises(ArtifactStoreError, match="corr_abc123 is already used"):
        task = "task_009" if change == "task" else "task_001"
        store.commit_artifacts(
            "wf_rsi", task, list(artifacts.values()), metadata=meta, correlation_id="abc123"
        )
    assert refs(git, repo) == before


# --------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("workflow_id", ""),
        ("workflow_id", "has space"),
        ("workflow_id", "../escape"),
        ("workflow_id", "-flag"),
        ("workflow_id", ".hidden"),
        ("task_id", "a..b"),
        ("task_id", "x.lock"),
        ("task_id", "a/b"),
        ("task_id", "x" * 101),
        ("task_id", "new\nline"),
        ("task_id", "ünï"),
        ("correlation_id", "corr_"),
        ("correlation_id", "bad id"),
        ("correlation_id", "c" * 129),
        ("prompt_hash", "xyz123"),
        ("prompt_hash", "abc"),
    ],
)
def test_bad_ids_are_refused_naming_the_field_and_change_nothing(
    repo, git, artifacts, field, value
):
    store = make_store(repo)
    args = {
        "workflow_id": "wf",
        "task_id": "t1",
        "files": list(artifacts.values()),
        "correlation_id": "c1",
    }
    args[field] = value
    before = (refs(git, repo), objects(git, repo))
    with pytest.raises(ArtifactStoreError, match=field):
        store.commit_artifacts(**args)  # type: ignore[arg-type]
    assert (refs(git, repo), objects(git, repo)) == before


def test_a_valid_id_of_100_characters_is_accepted(repo, git, artifacts):
    tid = "t" * 100
    result = make_store(repo).commit_artifacts(
        "wf", tid, list(artifacts.values()), correlation_id="c" * 128
    )
    assert git(repo, "rev-parse", f"ai/generated/wf/{tid}") == result["commit_sha"]
    assert result["tags"] == ["corr_" + "c" * 128]


def _file_problem(tmp_path: Path, artifacts: dict[str, Path], kind: str) -> tuple[object, str]:
    if kind == "missing":
        return [tmp_path / "nope.csv"], "does not exist"
    if kind == "empty":
        (tmp_path / "empty.csv").write_text("")
        return [tmp_path / "empty.csv"], "empty"
    if kind == "duplicate":
        other = tmp_path / "x"
        other.mkdir()
        (other / "trades.csv").write_text("b\n")
        return [artifacts["trades.csv"], other / "trades.csv"], "both be stored as 'trades.csv'"
    if kind == "reserved":
        (tmp_path / "metadata.json").write_text("{}\n")
        return [tmp_path / "metadata.json"], "reserves"
    if kind == "too_big":
        (tmp_path / "big.bin").write_bytes(b"x" * 2048)
        return [tmp_path / "big.bin"], "max_file_size"
    if kind == "broken_symlink":
        (tmp_path / "dangling").symlink_to(tmp_path / "gone")
        return [tmp_path / "dangling"], "broken symlink"
    if kind == "symlink_loop":
        (tmp_path / "loop").symlink_to(tmp_path / "loop")
        return [tmp_path / "loop"], "symlink loop"
    if kind == "dir_loop":
        d = tmp_path / "d"
        d.mkdir()
        (d / "f.txt").write_text("x\n")
        (d / "back").symlink_to(d)
        return [d], "directory loop"
    if kind == "symlink_to_file":
        (tmp_path / "link.csv").symlink_to(artifacts["trades.csv"])
        return [tmp_path / "link.csv"], "is a symlink"
    if kind == "symlink_to_dir":
        (tmp_path / "linkdir").symlink_to(artifacts["trades.csv"].parent)
        return [tmp_path / "linkdir"], "is a symlink"
    if kind == "symlink_inside_dir":
        d = tmp_path / "withlink"
        d.mkdir()
        (d / "f.txt").write_text("x\n")
        (d / "secret").symlink_to(artifacts["trades.csv"])
        return [d], "is a symlink"
    if kind == "fifo":
        os.mkfifo(tmp_path / "pipe")
        return [tmp_path / "pipe"], "FIFO"
    if kind == "empty_list":
        return [], "files is empty"
    if kind == "bad_mapping_name":
        return {"../x": artifacts["trades.csv"]}, "files name"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "empty",
        "duplicate",
        "reserved",
        "too_big",
        "broken_symlink",
        "symlink_loop",
        "dir_loop",
        "symlink_to_file",
        "symlink_to_dir",
        "symlink_inside_dir",
        "fifo",
        "empty_list",
        "bad_mapping_name",
    ],
)
def test_bad_files_are_refused_naming_the_culprit(repo, git, artifacts, tmp_path, kind):
    files, message = _file_problem(tmp_path, artifacts, kind)
    store = make_store(repo, max_file_size=1024)
    before = (refs(git, repo), objects(git, repo))
    with pytest.raises(ArtifactStoreError, match=re.escape(message)):
        commit(store, files)
    assert (refs(git, repo), objects(git, repo)) == before


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"x": {1, 2}}, "set"),
        ({"sharpe": float("nan")}, "NaN"),
        ({"test_metrics": {"pnl": float("inf")}}, "metadata['test_metrics']['pnl']"),
        ({1: "a"}, "key 1"),
        ("not a dict", "must be a dict"),
        ({"workflow_id": "other"}, "'workflow_id' is owned by the store"),
        ({"files": []}, "'files' is owned by the store"),
        ({"test_status": "failed"}, "test_status"),
    ],
)
def test_bad_metadata_is_refused(repo, git, artifacts, metadata, message):
    store = make_store(repo)
    before = (refs(git, repo), objects(git, repo))
    with pytest.raises(ArtifactStoreError, match=re.escape(message)):
        commit(store, list(artifacts.values()), metadata=metadata)
    assert (refs(git, repo), objects(git, repo)) == before


def test_caller_may_repeat_store_keys_with_the_same_value(repo, artifacts):
    result = commit(
        make_store(repo),
        list(artifacts.values()),
        metadata={"workflow_id": "wf_rsi", "correlation_id": "abc123", "test_status": "passed"},
    )
    assert result["created"]


def test_missing_correlation_id_is_refused_when_required(repo, git, artifacts):
    before = refs(git, repo)
    with pytest.raises(ArtifactStoreError, match="correlation_id is required"):
        commit(make_store(repo), list(artifacts.values()), corr=None)
    assert refs(git, repo) == before


def test_not_a_git_repository(tmp_path):
    with pytest.raises(ArtifactStoreError, match="not a git repository"):
        make_store(tmp_path)
    with pytest.raises(ArtifactStoreError, match="does not exist"):
        make_store(tmp_path / "nowhere")


def test_secret_is_refused_before_any_object_is_written(repo, git, artifacts):
    secret = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"  # pragma: allowlist secret
    artifacts["strategy.py"].write_text(f"STRIPE_KEY = '{secret}'\n")
    before = (refs(git, repo), objects(git, repo))
    with pytest.raises(SecretDetectedError) as info:
        commit(make_store(repo), list(artifacts.values()))
    assert (refs(git, repo), objects(git, repo)) == before
    assert secret not in str(info.value)
    assert info.value.findings and info.value.findings[0].line == 1
    assert all(secret not in f.preview for f in info.value.findings)
    assert str(artifacts["strategy.py"]) in str(info.value)
    dump = git_bytes(repo, "cat-file", "--batch-all-objects", "--batch")
    assert secret.encode() not in dump


def test_secret_in_metadata_is_refused(repo, git, artifacts):
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # pragma: allowlist secret
    before = (refs(git, repo), objects(git, repo))
    with pytest.raises(SecretDetectedError) as info:
        commit(make_store(repo), list(artifacts.values()), metadata={"notes": {"api_token": token}})
    assert token not in str(info.value)
    assert (refs(git, repo), objects(git, repo)) == before


def test_scanning_can_be_turned_off(repo, git, artifacts):
    artifacts["strategy.py"].write_text("password = 'hunter2hunter2'\n")  # pragma: allowlist secret
    result = commit(make_store(repo, scan_for_secrets=False), list(artifacts.values()))
    assert result["created"]


def test_custom_secret_patterns_replace_the_builtin_rules(repo, artifacts):
    artifacts["events.log"].write_text("INTERNAL-TOKEN-1234\n")
    with pytest.raises(SecretDetectedError):
        commit(make_store(repo, secret_patterns=[r"INTERNAL-TOKEN-\d+"]), list(artifacts.values()))


def test_git_fsck_is_clean_after_many_operations(repo, git, artifacts):
    store = make_store(repo)
    for i in range(3):
        artifacts["trades.csv"].write_text(f"t,p\n{i},1\n")
        commit(store, list(artifacts.values()), corr=f"c{i}", prompt_hash="abcdef")
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_metadata_is_scanned_even_when_no_metadata_json_is_written(repo, git, artifacts):
    token = "ghp_" + "Zq8Wx7Vc6Bn5Mm4Ll3Kk2Jj1Hh0Gg9Ff8Dd7"  # pragma: allowlist secret
    before = (refs(git, repo), objects(git, repo))
    with pytest.raises(SecretDetectedError):
        commit(
            make_store(repo, include_metadata=False),
            list(artifacts.values()),
            metadata={"agent_version": token},
        )
    assert (refs(git, repo), objects(git, repo)) == before


def test_a_reused_old_object_is_freshened_so_prune_keeps_it(repo, artifacts, git):
    """git prune deletes unreachable loose objects older than its expiry: a blob the store
    reuses must look new, as git's own writes make it (SPEC §4)."""
    data = artifacts["trades.csv"].read_bytes()
    sha = git(repo, "hash-object", "-w", str(artifacts["trades.csv"]))
    loose = repo / ".git" / "objects" / sha[:2] / sha[2:]
    month_ago = time.time() - 30 * 86400
    os.utime(loose, (month_ago, month_ago))
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    result = store.commit_artifacts("wf", "t1", [artifacts["trades.csv"]], correlation_id="c1")
    git(repo, "prune", "--expire=now")  # even now: the version's objects are in its pack
    assert git(
        repo, "cat-file", "blob", f"{result['commit_sha']}:Backtest/codes/t1/trades.csv"
    ) == (data.decode().rstrip("\n"))
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_commits_keep_the_repository_packed(repo, artifacts, git, monkeypatch):
    """Past git's gc.auto estimate (loose objects, or a pack a version past
    gc.autoPackLimit), a commit starts `git gc --auto` detached: objects end in one
    pack and refs in packed-refs, while nothing waits for it."""
    from pytest_artifact_store.git import repository

    monkeypatch.setattr(repository, "_GC_AUTO", 0)  # any object under objects/17
    monkeypatch.setattr(repository, "_DETACHED", [])
    git(repo, "config", "gc.auto", "1")  # git's own threshold: 2 objects under objects/17
    git(repo, "config", "gc.autoDetach", "false")  # so that waiting for it is enough
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    n = 0
    fanout = repo / ".git" / "objects" / "17"
    while not fanout.is_dir() or len(list(fanout.iterdir())) < 2:
        store.repo.write_object(b"blob", f"filler {n}\n".encode())
        n += 1
    result = store.commit_artifacts("wf", "t1", [artifacts["trades.csv"]], correlation_id="c1")
    for proc in repository._DETACHED:
        proc.wait(timeout=60)
    assert repository._DETACHED, "no maintenance was started"
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    assert int(counts["packs"]) >= 1
    sha = result["commit_sha"]
    assert not (repo / ".git" / "objects" / sha[:2] / sha[2:]).exists()  # packed, not loose
    assert git(repo, "cat-file", "-t", sha) == "commit"
    assert "refs/tags/corr_c1" in (repo / ".git" / "packed-refs").read_text()
    assert git(repo, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only; elsewhere the test is skipped with the reason)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)])
    if done.returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_a_clear_error_and_changes_nothing(small_disk, artifacts, git):
    repo = small_disk / "repo"
    git(small_disk, "init", "-q", "-b", "main", str(repo))
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "initial")
    big = small_disk / "filler"
    with big.open("wb") as f, contextlib.suppress(OSError):  # fill what is left
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    src = small_disk.parent / "big.csv"
    src.write_bytes(os.urandom(256 * 1024).hex().encode())
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    with pytest.raises(ArtifactStoreError, match="cannot write to the object database") as exc:
        store.commit_artifacts("wf", "t1", [src], correlation_id="c1")
    assert "the disk is full: free some space and commit again" in str(exc.value)
    assert str(repo / ".git" / "objects") in str(exc.value)
    assert git(repo, "for-each-ref", "refs/heads/ai", "refs/tags") == ""
    big.unlink()
    leftovers = [p for p in (repo / ".git" / "objects").rglob("*") if "tmp" in p.name]
    assert leftovers == []  # no partial object or pack
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
    result = store.commit_artifacts("wf", "t1", [src], correlation_id="c1")
    assert git(repo, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]


def _repo_on(disk: Path, git) -> Path:
    repo = disk / "repo"
    git(disk, "init", "-q", "-b", "main", str(repo))
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.mark.parametrize("free", [0, 2048, 8192, 32768, 131072])
def test_a_disk_that_fills_at_any_point_never_raises_a_raw_error(small_disk, git, free):
    """Whatever step runs out of space (pack, index, ref lock, reflog), the caller gets
    an ArtifactStoreError and the repository is left as it was."""
    repo = _repo_on(small_disk, git)
    src = small_disk.parent / "v.csv"
    src.write_bytes(os.urandom(48 * 1024).hex().encode())
    big = small_disk / "filler"
    fd = os.open(big, os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0" * 4096)
    os.ftruncate(fd, max(0, os.fstat(fd).st_size - free))
    os.close(fd)
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    try:
        result = store.commit_artifacts("wf", "t1", [src], correlation_id="c1")
    except ArtifactStoreError:
        assert git(repo, "for-each-ref", "refs/heads/ai", "refs/tags") == ""
    else:
        assert git(repo, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]
    big.unlink()
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_read_only_storage_is_a_clear_error(small_disk, git):
    repo = _repo_on(small_disk, git)
    src = small_disk.parent / "v.csv"
    src.write_text("t,p\n1,2\n")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
        with pytest.raises(ArtifactStoreError, match="read-only storage") as exc:
            store.commit_artifacts("wf", "t1", [src], correlation_id="c1")
        assert "nothing was committed" in str(exc.value)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert git(repo, "for-each-ref", "refs/heads/ai", "refs/tags") == ""


@pytest.mark.parametrize("name", ["auth.py", "secret.py", "token_bucket.py", "password.json"])
def test_a_clean_file_named_like_a_secret_commits(tmp_path, repo, git, name):
    """metadata.json maps each file name to its sha256: the store's own digest of a file
    it scanned is no secret, whatever the file is called."""
    src = tmp_path / name
    src.write_text("def f():\n    return 1\n" if name.endswith(".py") else '{"min_len": 12}\n')
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    result = store.commit_artifacts("wf", "t1", [src], correlation_id=f"c-{name}")
    meta = json.loads(git(repo, "show", f"{result['commit_sha']}:Backtest/codes/t1/metadata.json"))
    assert len(meta["file_sha256"][name]) == 64
