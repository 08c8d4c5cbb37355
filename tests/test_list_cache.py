"""The cache behind full listings (.git/artifact-store/json-cache).

It memoises, by commit id, each version's metadata.json (``<commit id>:<path>``) and
what a history walk needs of each commit (``<commit id>``); a commit id fixes its
content, so no entry can go stale. These tests check that a listing is the same with
and without it (checked against git), that it is filled and then used, and that damage
to it, or a repository where git rewrites objects (replace refs), is handled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
from pytest_artifact_store.git import JsonCache
from pytest_artifact_store.git import cache as gitcache
from pytest_artifact_store.git import repository as gitrepo
from pytest_artifact_store.git.objects import Commit


def make_store(repo: Path) -> ArtifactStore:
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))


def add_version(store: ArtifactStore, task: str, corr: str, text: str) -> dict:
    src = Path(store.config.repo_path).parent / f"{corr}.py"
    src.write_text(text)
    return store.commit_artifacts(
        "wf", task, {"strategy.py": src}, correlation_id=corr, metadata={"n": text}
    )


@pytest.fixture
def store(repo: Path) -> ArtifactStore:
    s = make_store(repo)
    for i in range(5):
        add_version(s, f"t{i % 2}", f"c{i}", f"v{i}\n")
    return s


def cache_file(repo: Path) -> Path:
    return repo / ".git" / "artifact-store" / "json-cache"


def cache_lines(repo: Path, kind: str = "metadata") -> list[list]:
    """The cache's entries of one kind: "metadata" (<sha>:<path>) or "commit" (<sha>).
    Each line of the file is a batch of ``[name, value]`` entries."""
    lines = cache_file(repo).read_bytes().splitlines()
    entries = [pair for line in lines if line for pair in batch(line)]
    return [pair for pair in entries if (":" in pair[0]) == (kind == "metadata")]


def batch(line: bytes) -> list:
    """The entries of one line: ``<mac> <JSON batch>``."""
    mac, _, body = line.partition(b" ")
    assert len(mac) == 32, line
    return list(json.loads(body))


def rewrite_cache(repo: Path, entries: list[list]) -> None:
    """The cache as the store would write it (signed) with these entries, one per line."""
    cache = JsonCache(cache_file(repo))
    cache_file(repo).unlink()
    for pair in entries:
        cache.add([(pair[0], pair[1])])


def fresh_listing(repo: Path, **kw: object) -> list[dict]:
    """What a listing says with no cache at all."""
    saved = cache_file(repo).read_bytes() if cache_file(repo).exists() else None
    cache_file(repo).unlink(missing_ok=True)
    with make_store(repo) as s:
        listed = s.list_artifacts(limit=None, **kw)  # type: ignore[arg-type]
    if saved is None:
        cache_file(repo).unlink(missing_ok=True)
    else:
        cache_file(repo).write_bytes(saved)
    return listed


def test_a_full_listing_fills_the_cache_with_what_git_holds(store, repo, git):
    assert not cache_file(repo).exists()
    listed = store.list_artifacts(limit=None)
    lines = cache_lines(repo)
    assert len(lines) == len(listed) == 5
    names = {f"{e['commit_sha']}:Backtest/codes/{e['task_id']}/metadata.json" for e in listed}
    assert {name for name, _ in lines} == names
    for name, value in lines:
        assert value == json.loads(git(repo, "show", name))
    commits = dict(cache_lines(repo, "commit"))
    for entry in listed:  # every version, and the base commit each branch starts from
        facts = commits.pop(entry["commit_sha"])
        assert facts["parents"] == git(repo, "rev-parse", f"{entry['commit_sha']}^@").split()
        assert facts["time"] == int(git(repo, "log", "-1", "--format=%ct", entry["commit_sha"]))
        assert facts["trailers"]["Correlation-Id"] == entry["correlation_id"]
    assert list(commits) == [git(repo, "rev-parse", "main")]
    size = cache_file(repo).stat().st_size
    assert store.list_artifacts(limit=None) == listed
    assert cache_file(repo).stat().st_size == size  # nothing appended: all was found


def test_cached_entries_are_used_instead_of_reading_git(store, repo):
    store.list_artifacts(limit=None)
    lines = cache_lines(repo) + cache_lines(repo, "commit")
    lines[0][1]["n"] = "from the cache"
    rewrite_cache(repo, lines)
    listed = store.list_artifacts(limit=None)
    assert [e["n"] for e in listed].count("from the cache") == 1
    # the walk too: a commit entry whose trailers name another task is believed
    for line in lines:
        if ":" not in line[0] and line[1]["trailers"].get("Correlation-Id") == "corr_c4":
            line[1]["trailers"]["Task-Id"] = "elsewhere"
    rewrite_cache(repo, lines)
    assert "corr_c4" not in {e["correlation_id"] for e in store.list_artifacts(limit=None)}


def test_new_versions_are_read_from_git_and_appended(store, repo):
    store.list_artifacts(limit=None)
    made = add_version(store, "t9", "c9", "v9\n")
    listed = store.list_artifacts(limit=None)
    assert listed[0]["commit_sha"] == made["commit_sha"] and listed[0]["n"] == "v9\n"
    assert len(cache_lines(repo)) == 6
    assert made["commit_sha"] in dict(cache_lines(repo, "commit"))
    assert listed == fresh_listing(repo)


def test_damaged_and_foreign_lines_are_skipped(store, repo):
    expected = fresh_listing(repo)
    store.list_artifacts(limit=None)
    rewrite_cache(repo, cache_lines(repo) + cache_lines(repo, "commit"))
    good = cache_file(repo).read_bytes().splitlines(keepends=True)
    junk = [
        b"not json at all\n",
        b'[["HEAD:Backtest/codes/t0/metadata.json", {"n": "a ref, not a commit id"}]]\n',
        b'[["' + b"f" * 40 + b':Backtest/codes/t0/metadata.json", {"n": "no such commit"}]]\n',
        b'[["' + b"a" * 40 + b':x", [1, 2]], 7, [1, 2, 3]]\n',
        b'{"a": "batch that is not a list"}\n',
    ]
    # two good lines lost, junk in between, and a last line cut short by a crash
    cache_file(repo).write_bytes(b"".join(junk[:2] + good[2:] + junk[2:]) + good[0][:25])
    assert store.list_artifacts(limit=None) == expected
    # the lost entries were read from git again and appended on a line of their own
    loaded = JsonCache(cache_file(repo)).load()
    assert {batch(line)[0][0] for line in good} <= set(loaded)
    assert "a" * 40 + ":x" not in loaded and "HEAD:Backtest/codes/t0/metadata.json" not in loaded
    # commit entries of the wrong shape load, but a walk takes them for missing
    JsonCache(cache_file(repo)).add(
        [
            ("b" * 40, {"parents": [1], "time": 5, "trailers": {}}),
            ("c" * 40, {"parents": [], "time": "5", "trailers": {}}),
        ]
    )
    loaded = JsonCache(cache_file(repo)).load()
    assert gitcache.commit_from_facts("b" * 40, loaded["b" * 40]) is None
    assert gitcache.commit_from_facts("c" * 40, loaded["c" * 40]) is None


def test_listing_works_when_the_cache_cannot_be_written(store, repo):
    (repo / ".git" / "artifact-store").write_text("a file where the cache directory goes")
    listed = store.list_artifacts(limit=None)
    assert len(listed) == 5 and {e["n"] for e in listed} == {f"v{i}\n" for i in range(5)}
    assert (repo / ".git" / "artifact-store").read_text().startswith("a file")


def test_filtered_listings_load_the_cache_only_when_it_is_small_enough(store, repo, monkeypatch):
    monkeypatch.setattr(JsonCache, "MIN_NAMES", 2)
    store.list_artifacts(limit=None)
    lines = cache_lines(repo)
    for line in lines:
        line[1]["n"] = "cached"
    rewrite_cache(repo, lines)
    t0 = store.list_artifacts(task_id="t0", limit=None)
    assert [e["n"] for e in t0] == ["cached"] * 3
    monkeypatch.setattr(JsonCache, "BYTES_PER_NAME", 8)  # the file is now "too large"
    assert [e["n"] for e in store.list_artifacts(task_id="t0", limit=None)] == [
        "v4\n",
        "v2\n",
        "v0\n",
    ]


def test_repeated_lines_are_compacted_on_load(store, repo):
    store.list_artifacts(limit=None)
    one = cache_file(repo).read_bytes()
    cache_file(repo).write_bytes(one * 300)
    cache = JsonCache(cache_file(repo))
    loaded = cache.load()
    assert len(loaded) == 11  # 5 metadata, 5 versions, 1 base commit
    lines = cache_file(repo).read_bytes().splitlines()
    assert len(lines) == 1
    assert dict(batch(lines[0])) == loaded == dict(cache_lines(repo) + cache_lines(repo, "commit"))


def test_concurrent_writers_leave_only_whole_lines(tmp_path):
    path = tmp_path / "cache"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pytest_artifact_store.git import JsonCache\n"
        "c = JsonCache(Path(sys.argv[1]))\n"
        "w = int(sys.argv[2])\n"
        "for batch in range(40):\n"
        "    c.add([(f'{w:x}' * 40 + f':p/{batch}/{i}', {'w': w, 'pad': 'x' * 3000})"
        " for i in range(25)])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(w)]) for w in (1, 2, 3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    # a writer that saw another's write in flight starts on a new line: empty lines
    lines = [line for line in path.read_bytes().splitlines() if line]
    assert len(lines) == 3 * 40
    assert all(len(batch(line)) == 25 for line in lines)
    loaded = JsonCache(path).load()
    assert len(loaded) == 3000
    assert all(v is not None and v["pad"] == "x" * 3000 for v in loaded.values())


def hand_commit(repo: Path, git, branch: str, name: str) -> str:
    git(repo, "checkout", "-q", branch)
    (repo / name).write_text(f"{name}\n")
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"by hand: {name}")
    git(repo, "checkout", "-q", "main")
    return git(repo, "rev-parse", branch)


def test_a_walk_from_the_cache_finds_what_git_log_finds(store, repo, git):
    """Hand-made commits, a merge, an archived branch and a revert: the listing from a
    warm cache equals the one from git, and each version's sha is one git knows."""
    hand_commit(repo, git, "ai/generated/wf/t0", "NOTES.md")
    add_version(store, "t0", "c5", "v5\n")
    git(repo, "checkout", "-q", "-b", "side", "ai/generated/wf/t1")
    (repo / "SIDE.md").write_text("side\n")
    git(repo, "add", "SIDE.md")
    git(repo, "commit", "-q", "-m", "side work")
    git(repo, "checkout", "-q", "ai/generated/wf/t1")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    git(repo, "checkout", "-q", "main")
    add_version(store, "t1", "c6", "v6\n")
    add_version(store, "t2", "c7", "v7\n")
    store.revert_to_tag("corr_c0", target_branch="ai/generated/wf/t0")
    store.archive(0, keep_last=2)
    for archived in (False, True):
        cold = fresh_listing(repo, archived=archived)
        store.list_artifacts(limit=None, archived=archived)  # fills the cache
        warm = store.list_artifacts(limit=None, archived=archived)
        assert warm == cold
        shas = git(repo, "log", "--format=%H", "--branches", "--glob=refs/archive/*").split()
        assert {e["commit_sha"] for e in warm} <= set(shas)
    assert {e["correlation_id"] for e in store.list_artifacts(limit=None, archived=True)} == {
        f"corr_c{i}" for i in range(8)
    } | {store.list_artifacts(limit=1)[0]["correlation_id"]}


def test_commits_the_cache_lacks_are_read_one_by_one_when_it_is_warm(store, repo, git):
    store.list_artifacts(limit=None)
    before = set(dict(cache_lines(repo, "commit")))
    hand = hand_commit(repo, git, "ai/generated/wf/t1", "NOTES.md")
    made = add_version(store, "t1", "c9", "v9\n")
    listed = store.list_artifacts(limit=None)
    assert listed == fresh_listing(repo)
    assert set(dict(cache_lines(repo, "commit"))) - before == {hand, made["commit_sha"]}


def test_no_cache_where_git_replaces_objects(store, repo, git):
    """With a replace ref, what git shows for a commit id can change: no cache."""
    listed = store.list_artifacts(limit=None)
    cache_file(repo).unlink()
    victim = listed[0]["commit_sha"]
    git(repo, "replace", "--graft", victim, git(repo, "rev-parse", "main"))
    with make_store(repo) as fresh:
        after = fresh.list_artifacts(limit=None)
    assert not cache_file(repo).exists()
    # git now shows the replaced commit with main as its parent: the versions under it
    # on that branch are gone from its history, as `git log` shows
    logged = git(repo, "log", "--format=%H", "ai/generated/wf/t0", "--not", "main").split()
    assert {e["commit_sha"] for e in after if e["task_id"] == "t0"} == set(logged)


def test_no_cache_where_a_packed_ref_replaces_objects(store, repo, git):
    """A replace ref in packed-refs (found by a binary search of the sorted file, as git
    reads it) turns the caches off too: the listing cache and the tips' times."""
    listed = store.list_artifacts(limit=None)
    memo = repo / ".git" / "artifact-store"
    for name in ("json-cache", "tip-times"):
        (memo / name).unlink(missing_ok=True)
    git(repo, "replace", "--graft", listed[0]["commit_sha"], git(repo, "rev-parse", "main"))
    git(repo, "pack-refs", "--all")
    assert not list((repo / ".git" / "refs" / "replace").iterdir())
    assert b" refs/replace/" in (repo / ".git" / "packed-refs").read_bytes()
    with make_store(repo) as fresh:
        fresh.list_artifacts(limit=None)
        fresh.list_artifacts(limit=1)
    assert not (memo / "json-cache").exists() and not (memo / "tip-times").exists()


def test_git_log_takes_over_when_much_of_the_history_is_not_cached(store, repo, git, monkeypatch):
    monkeypatch.setattr(gitrepo, "_WALK_READS", 1)
    expected = fresh_listing(repo)
    store.list_artifacts(limit=None)
    full = dict(cache_lines(repo, "commit"))
    tips = {git(repo, "rev-parse", f"ai/generated/wf/{t}") for t in ("t0", "t1")}
    rewrite_cache(repo, cache_lines(repo) + [[sha, full[sha]] for sha in tips])
    walks: list[list[str]] = []
    real_walk = gitrepo.Repository.walk

    def spy(self: gitrepo.Repository, starts: list[str]) -> Iterator[Commit]:
        walks.append(list(starts))
        return real_walk(self, starts)

    monkeypatch.setattr(gitrepo.Repository, "walk", spy)
    assert store.list_artifacts(limit=None) == expected
    # the tips came from the cache, two parents were read with cat-file, and then
    # git log walked on from what was left to visit
    assert len(walks) == 1 and not tips & set(walks[0])
    assert set(dict(cache_lines(repo, "commit"))) == set(full)


def test_a_forged_entry_is_never_served(store, repo):
    """An entry the store did not write -- edited in place, or a plausible line added by
    hand -- is skipped and read from git again (SPEC §4: the cache cannot lie)."""
    expected = fresh_listing(repo)
    store.list_artifacts(limit=None)
    text = cache_file(repo).read_bytes()
    name = cache_lines(repo)[0][0]
    forged = text.replace(b'"n": "v0', b'"n": "X0', 1)  # the MAC no longer matches
    assert forged != text
    plausible = json.dumps([[name, {"n": "forged", "net_pnl": 999999.0}]]).encode()
    cache_file(repo).write_bytes(forged + b"0" * 32 + b" " + plausible + b"\n")
    assert store.list_artifacts(limit=None) == expected
    assert make_store(repo).list_artifacts(limit=None) == expected


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "directory"])
def test_a_cache_that_is_not_a_regular_file_is_left_alone(store, repo, kind):
    expected = fresh_listing(repo)
    path = cache_file(repo)
    path.parent.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    assert store.list_artifacts(limit=None) == expected  # no hang, no MemoryError
    assert make_store(repo).list_artifacts(limit=None) == expected
    assert path.is_dir() if kind == "directory" else path.is_symlink() or path.is_fifo()
