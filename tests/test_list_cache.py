"""The metadata cache behind full listings (.git/artifact-store/json-cache).

It memoises ``git cat-file <commit id>:<path>`` decoded as JSON; a commit id fixes its
tree, so an entry can never go stale. These tests check that a listing is the same with
and without it, that it is filled and then used, and that damage to it is harmless.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
from pytest_artifact_store.gitstore import JsonCache


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


def cache_lines(repo: Path) -> list[list]:
    return [json.loads(line) for line in cache_file(repo).read_bytes().splitlines()]


def fresh_listing(repo: Path) -> list[dict]:
    """What a listing says with no cache at all."""
    saved = cache_file(repo).read_bytes() if cache_file(repo).exists() else None
    cache_file(repo).unlink(missing_ok=True)
    with make_store(repo) as s:
        listed = s.list_artifacts(limit=None)
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
    assert store.list_artifacts(limit=None) == listed
    assert len(cache_lines(repo)) == 5  # nothing appended when everything was found


def test_cached_entries_are_used_instead_of_reading_git(store, repo):
    store.list_artifacts(limit=None)
    lines = cache_lines(repo)
    lines[0][1]["n"] = "from the cache"
    cache_file(repo).write_text("".join(json.dumps(line) + "\n" for line in lines))
    listed = store.list_artifacts(limit=None)
    assert [e["n"] for e in listed].count("from the cache") == 1


def test_new_versions_are_read_from_git_and_appended(store, repo):
    store.list_artifacts(limit=None)
    made = add_version(store, "t9", "c9", "v9\n")
    listed = store.list_artifacts(limit=None)
    assert listed[0]["commit_sha"] == made["commit_sha"] and listed[0]["n"] == "v9\n"
    assert len(cache_lines(repo)) == 6
    assert listed == fresh_listing(repo)


def test_damaged_and_foreign_lines_are_skipped(store, repo):
    expected = fresh_listing(repo)
    store.list_artifacts(limit=None)
    good = cache_file(repo).read_bytes().splitlines(keepends=True)
    junk = [
        b"not json at all\n",
        b'["HEAD:Backtest/codes/t0/metadata.json", {"n": "a ref, not a commit id"}]\n',
        b'["' + b"f" * 40 + b':Backtest/codes/t0/metadata.json", {"n": "no such commit"}]\n',
        b'["' + b"a" * 40 + b':x", [1, 2]]\n',
        b"[1, 2, 3]\n",
    ]
    # two good lines lost, junk in between, and a last line cut short by a crash
    cache_file(repo).write_bytes(b"".join(junk[:2] + good[2:] + junk[2:]) + good[0][:25])
    assert store.list_artifacts(limit=None) == expected
    # the lost lines were read from git again and appended on a line of their own
    names = {line[0] for line in cache_lines_tolerant(repo) if len(line) == 2}
    assert {line[0] for line in map(json.loads, good)} <= names
    loaded = JsonCache(cache_file(repo)).load()
    assert {line[0] for line in map(json.loads, good)} <= set(loaded)


def cache_lines_tolerant(repo: Path) -> list[list]:
    out = []
    for line in cache_file(repo).read_bytes().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


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
    cache_file(repo).write_text("".join(json.dumps(line) + "\n" for line in lines))
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
    assert len(cache.load()) == 5
    assert sorted(cache_file(repo).read_bytes().splitlines()) == sorted(one.splitlines())


def test_concurrent_writers_leave_only_whole_lines(tmp_path):
    path = tmp_path / "cache"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pytest_artifact_store.gitstore import JsonCache\n"
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
    assert len(lines) == 3 * 40 * 25
    loaded = JsonCache(path).load()
    assert len(loaded) == 3000
    assert all(v is not None and v["pad"] == "x" * 3000 for v in loaded.values())
