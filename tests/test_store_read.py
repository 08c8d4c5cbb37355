"""list_artifacts, get_artifact_by_correlation_id and revert_to_tag (SPEC §2, §5)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError

TASK_DIR = "Backtest/codes/task_001"


def make_store(repo: Path, **kw: object) -> ArtifactStore:
    kw.setdefault("auto_push", False)
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo, **kw))  # type: ignore[arg-type]


def version(store: ArtifactStore, wf: str, task: str, corr: str, text: str, **kw: object):
    src = Path(store.config.repo_path).parent / f"{corr}.py"
    src.write_text(text)
    return store.commit_artifacts(wf, task, {"strategy.py": src}, correlation_id=corr, **kw)  # type: ignore[arg-type]


@pytest.fixture
def populated(repo: Path) -> tuple[ArtifactStore, list[dict]]:
    store = make_store(repo)
    made = [
        version(store, "wf_a", "t1", "a1", "v1\n", metadata={"test_metrics": {"pnl": 1}}),
        version(store, "wf_a", "t2", "a2", "v1\n", prompt_hash="abcdef01"),
        version(store, "wf_b", "t1", "b1", "v1\n"),
        version(store, "wf_a", "t1", "a3", "v2\n", prompt_hash="abcdef01"),
        version(store, "wf_b", "t1", "b2", "v2\n"),
    ]
    return store, made


def test_list_returns_every_version_newest_first(populated, repo, git):
    store, made = populated
    listed = store.list_artifacts()
    assert [e["commit_sha"] for e in listed] == [r["commit_sha"] for r in reversed(made)]
    stamps = [e["commit_timestamp"] for e in listed]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == len(stamps)
    first = listed[-1]
    assert first["branch"] == "ai/generated/wf_a/t1"
    assert first["tags"] == ["corr_a1"]
    assert first["test_metrics"] == {"pnl": 1}
    on_disk = json.loads(
        git(repo, "show", f"{first['commit_sha']}:Backtest/codes/t1/metadata.json")
    )
    assert {k: first[k] for k in on_disk} == on_disk


def test_list_filters_and_limit(populated):
    store, made = populated
    sha = [r["commit_sha"] for r in made]
    assert [e["commit_sha"] for e in store.list_artifacts("wf_a")] == [sha[3], sha[1], sha[0]]
    assert [e["commit_sha"] for e in store.list_artifacts(workflow_id="wf_a", task_id="t1")] == [
        sha[3],
        sha[0],
    ]
    assert [e["commit_sha"] for e in store.list_artifacts(task_id="t1")] == [
        sha[4],
        sha[3],
        sha[2],
        sha[0],
    ]
    assert [e["commit_sha"] for e in store.list_artifacts(prompt_hash="abcdef01")] == [
        sha[3],
        sha[1],
    ]
    assert [e["commit_sha"] for e in store.list_artifacts(limit=2)] == [sha[4], sha[3]]
    assert len(store.list_artifacts(limit=None)) == 5
    assert store.list_artifacts(limit=0) == []
    assert store.list_artifacts("wf_none") == []
    with pytest.raises(ArtifactStoreError, match="limit"):
        store.list_artifacts(limit=-1)


def test_list_stops_at_the_base_history(repo, git):
    for i in range(5):
        (repo / f"f{i}.txt").write_text(str(i))
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", f"base {i}")
    store = make_store(repo)
    version(store, "wf", "t", "c1", "x\n")
    listed = store.list_artifacts(limit=None)
    assert [e["correlation_id"] for e in listed] == ["corr_c1"]


def test_list_on_an_empty_repository_and_without_branches(tmp_path, git):
    repo = tmp_path / "e"
    git(tmp_path, "init", "-q", str(repo))
    assert make_store(repo).list_artifacts() == []


def test_get_by_correlation_id_accepts_both_forms(populated):
    store, made = populated
    for cid in ("a3", "corr_a3"):
        entry = store.get_artifact_by_correlation_id(cid)
        assert entry is not None
        assert entry["commit_sha"] == made[3]["commit_sha"]
        assert entry["tags"] == ["corr_a3"]
        assert entry["workflow_id"] == "wf_a" and entry["task_id"] == "t1"
        assert entry["files"] == [
            "Backtest/codes/t1/strategy.py",
            "Backtest/codes/t1/metadata.json",
        ]
    assert store.get_artifact_by_correlation_id("nope") is None
    assert store.get_artifact_by_correlation_id("bad id\n") is None


def test_get_matches_the_list_entry(populated):
    store, _ = populated
    listed = {e["commit_sha"]: e for e in store.list_artifacts()}
    entry = store.get_artifact_by_correlation_id("a2")
    assert entry == listed[entry["commit_sha"]]
    assert entry["tags"] == ["corr_a2", "prompt_abcdef01"]


# --------------------------------------------------------------------- revert


def test_revert_makes_one_commit_replacing_only_the_task_directory(repo, git):
    store = make_store(repo)
    v1 = version(store, "wf", "task_001", "c1", "v1\n")
    version(store, "wf", "task_001", "c2", "v2\n")
    (repo / "Backtest" / "codes" / "other").mkdir(parents=True)
    (repo / "Backtest" / "codes" / "other" / "keep.txt").write_text("keep\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "main work")
    main_before = git(repo, "rev-parse", "main")
    result = store.revert_to_tag("corr_c1", target_branch="main")
    assert result == {
        "success": True,
        "commit_sha": git(repo, "rev-parse", "main"),
        "reverted_to": "corr_c1",
        "branch": "main",
        "changed": True,
    }
    assert git(repo, "rev-parse", "main^") == main_before
    # the user's branch, the user's commit (the bot identity is for artifact branches)
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main") == (
        "Test User <test@example.com>|Test User <test@example.com>"
    )
    assert git(repo, "rev-parse", f"main:{TASK_DIR}") == git(
        repo, "rev-parse", f"{v1['commit_sha']}:{TASK_DIR}"
    )
    diff = git(repo, "diff", "--name-only", main_before, "main").splitlines()
    assert all(p.startswith(TASK_DIR + "/") for p in diff) and diff
    assert git(repo, "show", "main:Backtest/codes/other/keep.txt") == "keep"
    # main is checked out and was clean: work tree and index follow
    assert (repo / TASK_DIR / "strategy.py").read_text() == "v1\n"
    assert git(repo, "status", "--porcelain") == ""


def test_revert_accepts_bare_id_and_prompt_tag(repo, git):
    store = make_store(repo)
    v1 = version(store, "wf", "task_001", "c1", "v1\n", prompt_hash="abcdef")
    version(store, "wf", "task_001", "c2", "v2\n")
    assert store.revert_to_tag("c1")["reverted_to"] == "corr_c1"
    assert store.revert_to_tag("corr_corr_c1")["reverted_to"] == "corr_c1"  # seed's f"corr_{id}"
    assert store.revert_to_tag("prompt_abcdef")["reverted_to"] == "prompt_abcdef"
    assert git(repo, "rev-parse", f"main:{TASK_DIR}") == git(
        repo, "rev-parse", f"{v1['commit_sha']}:{TASK_DIR}"
    )


def test_revert_refuses_when_the_checked_out_directory_is_dirty(repo, git):
    store = make_store(repo)
    version(store, "wf", "task_001", "c1", "v1\n")
    version(store, "wf", "task_001", "c2", "v2\n")
    store.revert_to_tag("c2")
    (repo / TASK_DIR / "strategy.py").write_text("local edit\n")
    head = git(repo, "rev-parse", "main")
    with pytest.raises(ArtifactStoreError, match="uncommitted changes"):
        store.revert_to_tag("c1")
    assert git(repo, "rev-parse", "main") == head
    assert (repo / TASK_DIR / "strategy.py").read_text() == "local edit\n"


def test_revert_to_a_branch_not_checked_out_leaves_the_work_tree(repo, git):
    store = make_store(repo)
    git(repo, "branch", "release")
    v1 = version(store, "wf", "task_001", "c1", "v1\n")
    result = store.revert_to_tag("c1", target_branch="release")
    assert git(repo, "rev-parse", "release") == result["commit_sha"]
    assert git(repo, "rev-parse", f"release:{TASK_DIR}") == git(
        repo, "rev-parse", f"{v1['commit_sha']}:{TASK_DIR}"
    )
    assert not (repo / "Backtest").exists()
    assert git(repo, "status", "--porcelain") == ""


def test_revert_enforces_max_rollback_depth(repo, git):
    store = make_store(repo, max_rollback_depth=2)
    for i in range(3):
        version(store, "wf", "task_001", f"c{i}", f"v{i}\n")
    head = git(repo, "rev-parse", "main")
    with pytest.raises(ArtifactStoreError, match="max_rollback_depth=2"):
        store.revert_to_tag("c0")
    assert git(repo, "rev-parse", "main") == head
    store.revert_to_tag("c1")


def test_revert_errors(repo, git):
    store = make_store(repo)
    version(store, "wf", "task_001", "c1", "v1\n")
    git(repo, "tag", "plain", "main")
    with pytest.raises(ArtifactStoreError, match="unknown tag"):
        store.revert_to_tag("nope")
    with pytest.raises(ArtifactStoreError, match="not point at an artifact commit"):
        store.revert_to_tag("plain")
    with pytest.raises(ArtifactStoreError, match="does not exist"):
        store.revert_to_tag("c1", target_branch="missing")


# --------------------------------------------------------------------- find / archive


def test_find_version_by_every_kind_of_name(populated, git, repo):
    store, made = populated
    sha = made[3]["commit_sha"]
    for name in ("a3", "corr_a3", "ai/generated/wf_a/t1", "wf_a/t1", sha, sha[:10]):
        entry = store.find_version(name)
        assert entry is not None and entry["commit_sha"] == sha, name
    assert store.find_version("prompt_abcdef01")["commit_sha"] == made[1]["commit_sha"]
    assert store.find_version("main") is None  # not an artifact commit
    assert store.find_version("nothing-here") is None
    sizes = store.version_files(store.find_version("a3"))
    assert sizes == {
        "Backtest/codes/t1/metadata.json": len(
            git(repo, "show", f"{sha}:Backtest/codes/t1/metadata.json")
        )
        + 1,
        "Backtest/codes/t1/strategy.py": 3,
    }
    assert store.read_version_file(store.find_version("a1"), "strategy.py") == b"v1\n"
    assert store.read_version_file(store.find_version("a1"), "nope.csv") is None


def test_archive_moves_old_branches_keeping_tags_and_lookup(populated, git, repo):
    store, made = populated
    assert store.archive(1) == []  # everything is fresh
    planned = store.archive(0, keep_last=1, dry_run=True)
    # wf_a's newest version is on t1 and wf_b's on t1: those branches stay
    assert [m["branch"] for m in planned] == ["ai/generated/wf_a/t2"]
    assert git(repo, "rev-parse", "--verify", "-q", "ai/generated/wf_a/t2")  # dry run moved nothing
    moved = store.archive(0, keep_last=1)
    assert moved == planned
    assert (
        git(repo, "rev-parse", "--verify", "-q", "refs/heads/ai/generated/wf_a/t2", check=False)
        == ""
    )
    assert git(repo, "rev-parse", "refs/archive/ai/generated/wf_a/t2") == made[1]["commit_sha"]
    assert git(repo, "rev-parse", "corr_a2^{commit}") == made[1]["commit_sha"]
    assert store.get_artifact_by_correlation_id("a2")["commit_sha"] == made[1]["commit_sha"]
    assert made[1]["commit_sha"] not in [e["commit_sha"] for e in store.list_artifacts()]
    archived = store.list_artifacts(archived=True)
    assert len(archived) == 5
    assert [
        e.get("archived", False) for e in archived if e["commit_sha"] == made[1]["commit_sha"]
    ] == [True]
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_gitpython_repo_on_demand(populated, repo):
    store, made = populated
    gp = store.gitpython_repo()
    assert gp.commit("corr_a3").hexsha == made[3]["commit_sha"]
    assert "ai/generated/wf_a/t1" in [h.name for h in gp.heads]


def test_without_metadata_json_versions_within_one_second_keep_their_order(repo, git):
    store = make_store(repo, include_metadata=False)
    made = [version(store, "wm", f"t{i % 3}", f"m{i}", f"v{i}\n") for i in range(8)]
    listed = store.list_artifacts(workflow_id="wm")
    assert [e["commit_sha"] for e in listed] == [r["commit_sha"] for r in reversed(made)]
    stamps = [e["commit_timestamp"] for e in listed]
    assert all(len(s) == 27 for s in stamps)  # YYYY-MM-DDTHH:MM:SS.ffffffZ
    trailer = git(
        repo,
        "log",
        "-1",
        "--format=%(trailers:key=Commit-Timestamp,valueonly)",
        made[-1]["commit_sha"],
    )
    assert trailer == stamps[0]


def test_hand_made_commit_on_a_task_branch_does_not_hide_its_versions(repo, git):
    store = make_store(repo)
    first = version(store, "wf", "t1", "c1", "v1\n")
    git(repo, "checkout", "-q", "ai/generated/wf/t1")
    (repo / "NOTES.md").write_text("reviewed by a human\n")
    git(repo, "add", "NOTES.md")
    git(repo, "commit", "-q", "-m", "review notes")
    git(repo, "checkout", "-q", "main")
    assert [e["commit_sha"] for e in store.list_artifacts()] == [first["commit_sha"]]
    second = version(store, "wf", "t1", "c2", "v2\n")
    assert git(repo, "rev-parse", f"{second['commit_sha']}^^") == first["commit_sha"]
    assert [e["commit_sha"] for e in store.list_artifacts(limit=None)] == [
        second["commit_sha"],
        first["commit_sha"],
    ]
    assert git(repo, "show", f"{second['commit_sha']}:NOTES.md") == "reviewed by a human"


def test_ids_read_back_from_history_are_checked_like_ids_given(tmp_path, git):
    """A hand-made commit whose trailers name `../../etc` is not a version anywhere."""
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(
        repo,
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "artifacts(x)\n\nWorkflow-Id: wf\nTask-Id: ../../../etc\nCorrelation-Id: corr_evil",
    )
    git(repo, "tag", "-a", "corr_evil", "-m", "forged")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    assert store.get_artifact_by_correlation_id("evil") is None
    assert store.find_version("corr_evil") is None
    assert store.find_version("HEAD") is None
    with pytest.raises(ArtifactStoreError, match="does not point at an artifact commit"):
        store.revert_to_tag("corr_evil")


@pytest.mark.parametrize("ref", ["HEAD@{1}", "HEAD@{99}", "main@{upstream}", "corr_c1@{7}"])
def test_reflog_and_upstream_names_never_break_the_reader(tmp_path, git, ref):
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "commit", "-q", "--allow-empty", "-m", "initial")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    src = tmp_path / "s.py"
    src.write_text("x = 1\n")
    made = store.commit_artifacts("wf", "t1", [src], correlation_id="c1")
    assert store.find_version(ref) is None
    assert store.find_version("c1")["commit_sha"] == made["commit_sha"]  # still reading


def test_a_limited_listing_over_many_branches_is_the_head_of_the_full_one(tmp_path, repo):
    """list(limit=N) reads only the branches whose tips can hold the N newest versions;
    what it returns is exactly the first N of the full listing, whatever the order the
    branches were written in."""
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    rng = random.Random(4)
    for i in range(40):
        src = tmp_path / f"v{i}.csv"
        src.write_text(f"{i}\n")
        store.commit_artifacts("wf", f"task_{rng.randrange(12)}", [src], correlation_id=f"v{i}")
    full = [e["commit_sha"] for e in store.list_artifacts(limit=None)]
    for limit in (1, 3, 5, 11, 12, 13, 39, 40, 41):
        fresh = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
        assert [e["commit_sha"] for e in fresh.list_artifacts(limit=limit)] == full[:limit]


def test_revert_to_the_version_in_place_changes_nothing_and_says_so(repo, git):
    store = make_store(repo)
    version(store, "wf", "task_001", "c1", "v1\n")
    version(store, "wf", "task_001", "c2", "v2\n")
    first = store.revert_to_tag("c1")
    before = git(repo, "rev-parse", "main")
    assert first["changed"] is True and first["commit_sha"] == before
    again = store.revert_to_tag("c1")
    assert again == {
        "success": True,
        "commit_sha": before,
        "reverted_to": "corr_c1",
        "branch": "main",
        "changed": False,
    }
    assert git(repo, "rev-parse", "main") == before
    out = subprocess.run(
        [sys.executable, "-m", "pytest_artifact_store.cli", "--repo", str(repo), "revert", "c1"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    assert out.stdout.startswith("nothing to revert: main already holds corr_c1")


def test_revert_defaults_to_the_repositorys_default_branch(tmp_path, git):
    repo = tmp_path / "legacy"
    git(tmp_path, "init", "-q", "-b", "master", str(repo))
    (repo / "README.md").write_text("x\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    store = make_store(repo)
    version(store, "wf", "task_001", "c1", "v1\n")
    result = store.revert_to_tag("c1")
    assert result["branch"] == "master" and result["changed"]
    assert git(repo, "rev-parse", f"master:{TASK_DIR}") == git(
        repo, "rev-parse", f"corr_c1^{{commit}}:{TASK_DIR}"
    )
    # a clone follows its remote's HEAD
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "branch", "-q", "main")  # a local main is not the default here
    assert make_store(clone).default_branch() == "master"


def _fast_import(repo: Path, git, branches: dict[str, list[tuple[int, str | None]]]) -> None:
    """Task branches from main, each a list of (commit time, correlation id or None for a
    commit made by hand, no trailers), in one fast-import stream."""
    base = git(repo, "rev-parse", "main")
    out = []
    mark = 0
    for branch, commits in branches.items():
        wf, task = branch.split("/")
        parent = base
        for when, cid in commits:
            mark += 1
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
            if cid is None:
                msg = b"by hand\n"
                files = b""
            else:
                msg = (
                    f"artifacts({wf}/{task}): corr_{cid}\n\nWorkflow-Id: {wf}\nTask-Id: {task}\n"
                    f"Correlation-Id: corr_{cid}\n"
                ).encode()
                meta = json.dumps(
                    {
                        "workflow_id": wf,
                        "task_id": task,
                        "correlation_id": f"corr_{cid}",
                        "commit_timestamp": stamp,
                    }
                ).encode()
                path = f"Backtest/codes/{task}/metadata.json".encode()
                files = b"M 100644 inline %s\ndata %d\n%s\n" % (path, len(meta), meta)
            out.append(b"commit refs/heads/ai/generated/%s\nmark :%d\n" % (branch.encode(), mark))
            out.append(b"committer bot <bot@example.com> %d +0000\n" % when)
            out.append(b"data %d\n%s\nfrom %s\n%s\n" % (len(msg), msg, parent.encode(), files))
            parent = f":{mark}"
            if cid is not None:
                out.append(
                    b"tag corr_%s\nfrom :%d\ntagger bot <bot@example.com> %d +0000\ndata 0\n\n"
                    % (cid.encode(), mark, when)
                )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(out), check=True)


def test_a_limited_listing_walks_from_the_newest_tips_and_again_when_they_fall_short(repo, git):
    """list(limit=N) walks only the branches whose tips are among the N newest (their
    times memoised in tip-times), and walks again from more when a new tip holds only
    old versions (a commit made by hand on top): always the head of the full listing."""
    rng = random.Random(5)
    t0 = 1_700_000_000
    times = iter(rng.sample(range(t0, t0 + 100_000), 200))
    branches: dict[str, list[tuple[int, str | None]]] = {}
    for i in range(40):
        commits = sorted(next(times) for _ in range(rng.randint(1, 4)))
        branches[f"wf_{i % 3}/t{i:02d}"] = [(when, f"v{i}x{j}") for j, when in enumerate(commits)]
    for i in (3, 17):  # the newest tips of all, over that branch's old versions
        branches[f"wf_{i % 3}/t{i:02d}"].append((t0 + 200_000 + i, None))
    _fast_import(repo, git, branches)
    store = make_store(repo)
    full = [e["commit_sha"] for e in store.list_artifacts(limit=None)]
    assert len(full) == sum(len(c) for c in branches.values()) - 2
    memo = repo / ".git" / "artifact-store" / "tip-times"
    for n in (1, 2, 3, 7, 20, 39, 41, 60, 200):
        assert [e["commit_sha"] for e in make_store(repo).list_artifacts(limit=n)] == full[:n]
        assert memo.is_file()
    # a memo edited by anything but the store is not believed
    lines = memo.read_bytes().split(b"\n")
    forged = b"\n".join([lines[0]] + [ln.split(b" ")[0] + b" 1" for ln in lines[1:] if ln])
    memo.write_bytes(forged + b"\n")
    for n in (1, 5, 30):
        assert [e["commit_sha"] for e in make_store(repo).list_artifacts(limit=n)] == full[:n]
    assert [e["commit_sha"] for e in store.list_artifacts("wf_1", limit=4)] == [
        e["commit_sha"] for e in store.list_artifacts("wf_1", limit=None)
    ][:4]
