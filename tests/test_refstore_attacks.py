"""Attacks on the in-process shortcuts of a listing and a push: the ref files read
directly (git/refstore.py), the remote's urls kept while the config is the same, and
the tree walk that judges what a push publishes -- each must answer what git
(for-each-ref, config, diff-tree) answers, and a push must refuse what it refused."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tree_support import BASE, TASK_DIR, diff_tree_says, tree_of

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError
from pytest_artifact_store.git.repository import Repository
from pytest_artifact_store.remote.outgoing import _changes_outside, _outside_task_dir

PREFIXES = ["refs/heads/ai/generated/", "refs/remotes/origin/ai/generated/"]
BRANCH = "ai/generated/wf/task_001"


def for_each_ref(git, repo: Path) -> list[tuple[str, str]]:
    out = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", *PREFIXES)
    return [tuple(line.split(" ", 1)) for line in out.splitlines()]  # type: ignore[misc]


@pytest.fixture
def tasks(repo: Path, git) -> tuple[Path, str]:
    one = git(repo, "rev-parse", "HEAD")
    for i in range(6):
        git(repo, "update-ref", f"refs/heads/ai/generated/wf_{i % 2}/task_{i}", one)
    git(repo, "pack-refs", "--all")
    git(repo, "update-ref", "refs/heads/ai/generated/wf_0/loose", one)
    return repo, one


# ----------------------------------------------------------------- the ref files


def test_a_symlinked_workflow_directory_lists_what_git_lists(tasks, git) -> None:
    """git reads loose refs through a symlinked directory; os.walk does not descend it."""
    repo, one = tasks
    elsewhere = repo / ".git" / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "task_9").write_text(one + "\n")
    (repo / ".git" / "refs" / "heads" / "ai" / "generated" / "wf_link").symlink_to(elsewhere)
    want = for_each_ref(git, repo)
    assert (one, "refs/heads/ai/generated/wf_link/task_9") in want
    assert Repository(repo).refs_under(PREFIXES) == want


@pytest.mark.parametrize(
    "content",
    ["{one}" + "0" * 24 + "\n", "  {one}\n", "\t{one}\n"],
    ids=["sha256-length-in-a-sha1-repo", "leading-spaces", "leading-tab"],
)
def test_a_loose_ref_git_calls_broken_is_not_listed(tasks, git, content: str) -> None:
    repo, one = tasks
    broken = repo / ".git" / "refs" / "heads" / "ai" / "generated" / "wf_0" / "broken"
    broken.write_text(content.format(one=one))
    want = for_each_ref(git, repo)
    assert all(not ref.endswith("/broken") for _, ref in want)
    assert Repository(repo).refs_under(PREFIXES) == want


def test_a_loose_ref_name_that_is_not_utf8_is_named_as_git_names_it(tasks) -> None:
    repo, one = tasks
    loose = os.path.join(bytes(repo), b".git/refs/heads/ai/generated/wf_0/caf\xe9")
    with open(loose, "wb") as fh:
        fh.write(one.encode() + b"\n")
    store = Repository(repo)
    want = store._for_each_ref(PREFIXES, "%(objectname) %(refname)")
    got = [f"{sha} {ref}" for sha, ref in store.refs_under(PREFIXES)]
    assert got == want


def test_a_packed_refs_file_git_refuses_is_not_read_past(tasks, git) -> None:
    """No newline at its end: git stops ('unterminated line'), as the store did."""
    repo, _ = tasks
    packed = repo / ".git" / "packed-refs"
    packed.write_bytes(packed.read_bytes().rstrip(b"\n"))
    assert git(repo, "for-each-ref", *PREFIXES, check=False) == ""
    with pytest.raises(ArtifactStoreError, match="for-each-ref"):
        Repository(repo).refs_under(PREFIXES)


def test_refs_read_while_git_packs_them_are_all_there(tasks, git) -> None:
    """(held up) pack-refs and gc in a loop move the refs between the loose files and
    packed-refs: every read still has each ref, at one of its values."""
    repo, one = tasks
    two = git(repo, "commit-tree", f"{one}^{{tree}}", "-p", one, "-m", "two")
    names = {ref for _, ref in for_each_ref(git, repo)}
    script = (
        f"while true; do git update-ref refs/heads/ai/generated/wf_1/task_1 {two}; "
        f"git pack-refs --all; git update-ref refs/heads/ai/generated/wf_1/task_1 {one}; "
        f"git update-ref refs/heads/ai/generated/wf_0/task_2 {two}; git gc -q --auto; "
        "git pack-refs --all --prune; done"
    )
    busy = subprocess.Popen(["bash", "-c", script], cwd=repo, stderr=subprocess.DEVNULL)
    store = Repository(repo)
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            got = store.refs_under(PREFIXES)
            assert {ref for _, ref in got} == names
            assert {sha for sha, _ in got} <= {one, two}
    finally:
        busy.kill()
        busy.wait()


# ------------------------------------------------------------ the remote's urls


def test_a_url_in_an_included_file_is_read_again(repo: Path, git) -> None:
    included = repo.parent / "remote.inc"
    included.write_text('[remote "origin"]\n\turl = /srv/one.git\n')
    git(repo, "config", "include.path", str(included))
    store = Repository(repo)
    assert store.remote_urls("origin") == ("/srv/one.git", "")
    included.write_text('[remote "origin"]\n\turl = /srv/two.git\n')  # .git/config as it was
    assert store.remote_urls("origin") == ("/srv/two.git", "")


def test_a_url_in_the_system_config_named_by_the_environment_is_read_again(
    repo: Path, git, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = repo.parent / "system.cfg"
    system.write_text('[remote "up"]\n\turl = /srv/a.git\n')
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM")
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(system))
    store = Repository(repo)
    assert store.remote_urls("up") == ("/srv/a.git", "")
    system.write_text('[remote "up"]\n\turl = /srv/b.git\n')
    assert git(repo, "config", "remote.up.url") == "/srv/b.git"
    assert store.remote_urls("up") == ("/srv/b.git", "")


def test_a_pushurl_in_the_worktree_config_is_read_again(repo: Path, git) -> None:
    git(repo, "config", "extensions.worktreeConfig", "true")
    git(repo, "config", "--worktree", "remote.origin.url", "/srv/one.git")
    store = Repository(repo)
    assert store.remote_urls("origin") == ("/srv/one.git", "")
    git(repo, "config", "--worktree", "remote.origin.pushurl", "/srv/push.git")
    assert store.remote_urls("origin") == ("/srv/one.git", "/srv/push.git")


def test_a_long_lived_store_reads_the_remote_where_the_included_pushurl_now_points(
    tmp_path: Path, repo: Path, bare_remote: Path, git
) -> None:
    """url: the remote; pushurl (in an included file): one mirror, then another. What
    push_pending reads of the remote (ls-remote) comes from the pushurl of now."""
    one, two = tmp_path / "one.git", tmp_path / "two.git"
    for bare in (one, two):
        git(tmp_path, "init", "-q", "--bare", str(bare))
        git(repo, "push", "-q", str(bare), "main")
    included = tmp_path / "push.inc"
    included.write_text(f'[remote "origin"]\n\tpushurl = {one}\n')
    git(repo, "config", "include.path", str(included))
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo))
    src = tmp_path / "strategy.py"
    src.write_text("v1\n")
    first = store.commit_artifacts("wf", "task_001", {"strategy.py": src}, correlation_id="c1")
    assert first["pushed"] is True, first
    assert git(one, "rev-parse", f"refs/heads/{BRANCH}") == first["commit_sha"]
    included.write_text(f'[remote "origin"]\n\tpushurl = {two}\n')  # another process
    pending = store.push_pending(verify=True)  # asks the remote: two lacks the branch
    assert pending["pushed"] == [BRANCH], pending
    assert git(two, "rev-parse", f"refs/heads/{BRANCH}") == first["commit_sha"]


# ---------------------------------------------------------- what a push publishes


def _literal_tree(repo: Path, entries: list[tuple[str, str, str]]) -> str:
    """A tree object written as given (git mktree would not write a name twice)."""
    data = b"".join(
        mode.encode() + b" " + name.encode() + b"\0" + bytes.fromhex(sha)
        for mode, name, sha in entries
    )
    return (
        subprocess.run(
            ["git", "hash-object", "-t", "tree", "--literally", "-w", "--stdin"],
            cwd=repo,
            input=data,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )


def _entries(git, repo: Path, tree: str) -> list[tuple[str, str, str]]:
    out = []
    for line in git(repo, "ls-tree", tree).splitlines():
        meta, name = line.split("\t", 1)
        mode, _, sha = meta.split()
        out.append((mode.lstrip("0"), name, sha))  # (ls-tree shows a tree's mode as 040000)
    return out


def _blob(git, repo: Path, text: str) -> str:
    return git(repo, "hash-object", "-w", "--stdin", input=text.encode())


def test_a_tree_naming_a_file_twice_is_judged_as_diff_tree_judges_it(repo: Path, git) -> None:
    """A dict of a tree's entries keeps one of two same-named ones: the hidden change."""
    base = tree_of(repo, BASE)
    entries = _entries(git, repo, base)
    readme = next(e for e in entries if e[1] == "README.md")
    at = entries.index(readme)
    evil = ("100644", "README.md", _blob(git, repo, "DB_PASSWORD=hunter2\n"))
    new = _literal_tree(repo, [*entries[:at], evil, *entries[at:]])  # the change first
    assert diff_tree_says(repo, new, base) is True
    assert _changes_outside(Repository(repo), new, base, TASK_DIR) is not False


@pytest.mark.parametrize("mode", ["100664", "040000"])
def test_an_old_mode_is_judged_as_diff_tree_judges_it(repo: Path, git, mode: str) -> None:
    """diff-tree reads 100664 as 100644 and 040000 as 40000: no change outside."""
    base = tree_of(repo, BASE)
    name = "README.md" if mode == "100664" else "Backtest"
    new = _literal_tree(
        repo, [(mode if n == name else m, n, s) for m, n, s in _entries(git, repo, base)]
    )
    assert new != base and diff_tree_says(repo, new, base) is False
    assert _changes_outside(Repository(repo), new, base, TASK_DIR) is not True


def test_a_version_whose_parent_is_missing_is_left_to_diff_tree(repo: Path, git) -> None:
    """A parent's tree that cannot be read is not the empty tree (a task-only tree
    would then look like a first version)."""
    only_task = tree_of(repo, {"Backtest/codes/t1/a.csv": "a\n"})
    ghost = "1234567890" * 4
    who = "a <a@b> 0 +0000"
    raw = f"tree {only_task}\nparent {ghost}\nauthor {who}\ncommitter {who}\n\nx\n".encode()
    sha = git(repo, "hash-object", "-t", "commit", "--literally", "-w", "--stdin", input=raw)
    store = Repository(repo)
    commit = store.read_commit(sha)
    assert commit is not None
    facts: Any = SimpleNamespace(repo=store, task_dir=lambda task: TASK_DIR.rstrip("/"))
    with pytest.raises(ArtifactStoreError, match="diff-tree"):
        _outside_task_dir(facts, [commit], "t1")


def test_a_forged_version_naming_readme_twice_is_not_published(repo, bare_remote, git) -> None:
    """A hand-made commit copying a version's trailers, whose tree names README.md twice
    (the change first): push_pending refuses it, as diff-tree made it refuse before."""
    src = repo.parent / "strategy.py"
    src.write_text("v1\n")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    made = store.commit_artifacts("wf", "task_001", {"strategy.py": src}, correlation_id="c1")
    sha = made["commit_sha"]
    entries = _entries(git, repo, f"{sha}^{{tree}}")
    readme = next(e for e in entries if e[1] == "README.md")
    at = entries.index(readme)
    evil = ("100644", "README.md", _blob(git, repo, "DB_PASSWORD=hunter2\n"))
    tree = _literal_tree(repo, [*entries[:at], evil, *entries[at:]])
    message = git(repo, "log", "-1", "--format=%B", sha)
    forged = git(repo, "commit-tree", tree, "-p", f"{sha}^", "-m", message)
    git(repo, "update-ref", f"refs/heads/{BRANCH}", forged, sha)
    pending = ArtifactStore(ArtifactStoreConfig(repo_path=repo)).push_pending()
    assert pending["success"] is False, pending
    assert forged[:12] in pending["errors"][BRANCH]
    assert git(bare_remote, "for-each-ref", f"refs/heads/{BRANCH}") == ""
