"""Remote push (SPEC §6) against a real local bare remote and a remote that never answers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError

BRANCH = "ai/generated/wf/task_001"


@pytest.fixture
def remote(bare_remote: Path) -> Path:
    return bare_remote


def make_store(repo: Path, **kw: object) -> ArtifactStore:
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo, **kw))  # type: ignore[arg-type]


def version(store: ArtifactStore, corr: str, text: str, **kw: object) -> dict:
    src = Path(store.config.repo_path).parent / f"{corr}-{time.monotonic_ns()}.py"
    src.write_text(text)
    return store.commit_artifacts("wf", "task_001", {"strategy.py": src}, correlation_id=corr, **kw)  # type: ignore[arg-type]


def remote_refs(git, bare: Path) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)")
    return {line.split()[0]: line.split()[-1] for line in out.splitlines()}


def test_auto_push_sends_branch_and_tags_atomically(repo, remote, git):
    result = version(make_store(repo), "c1", "v1\n", prompt_hash="abcdef")
    assert result["pushed"] is True and result["push_error"] is None
    theirs = remote_refs(git, remote)
    assert theirs[f"refs/heads/{BRANCH}"] == result["commit_sha"]
    assert theirs["refs/tags/corr_c1"] == result["commit_sha"]
    assert theirs["refs/tags/prompt_abcdef"] == result["commit_sha"]
    assert git(remote, "cat-file", "-t", "refs/tags/corr_c1") == "tag"


def test_only_artifact_refs_are_pushed(repo, remote, git):
    git(repo, "branch", "private-work")
    git(repo, "tag", "v1.0")
    version(make_store(repo), "c1", "v1\n")
    names = set(remote_refs(git, remote))
    assert names == {"refs/heads/main", f"refs/heads/{BRANCH}", "refs/tags/corr_c1"}


def test_no_remote_or_auto_push_off_keeps_the_commit(repo, git):
    result = version(make_store(repo), "c1", "v1\n")
    assert result["pushed"] is False and "no remote named 'origin'" in result["push_error"]
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    result = version(make_store(repo, auto_push=False), "c2", "v2\n")
    assert result["pushed"] is False and result["push_error"] == "auto_push is off"


def test_remote_moved_by_another_clone_is_joined_and_no_version_changes(
    tmp_path, repo, remote, git
):
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    theirs = version(make_store(other), "theirs", "theirs\n", prompt_hash="abcdef")
    assert theirs["pushed"] is True
    mine_store = make_store(repo, auto_push=False)
    mine1 = version(mine_store, "mine1", "mine1\n", prompt_hash="abcdef")
    mine2 = version(mine_store, "mine2", "mine2\n")
    assert mine1["tags"] == ["corr_mine1", "prompt_abcdef"]  # local prompt tag: first *here*
    result = make_store(repo).push_pending()
    assert result["success"] is True and result["pushed"] == [BRANCH]
    assert "notes" not in result  # a prompt tag the remote has is left out silently
    tip = git(remote, "rev-parse", BRANCH)
    # the remote's tip joins its history (first parent) and ours; nothing was rebuilt
    assert git(remote, "rev-parse", f"{tip}^1", f"{tip}^2").split() == [
        theirs["commit_sha"],
        mine2["commit_sha"],
    ]
    assert git(remote, "log", "--format=%s", "--first-parent", f"main..{BRANCH}").splitlines() == [
        "join(wf/task_001): versions made concurrently",
        "artifacts(wf/task_001): corr_theirs",
    ]
    body = git(remote, "log", "-1", "--format=%B", tip)
    assert "Artifact-Join: wf/task_001" in body
    assert f"Artifact-Version: {mine2['commit_sha']}" in body
    assert git(remote, "tag", "--points-at", tip) == ""  # a join carries no tag
    # its task directory is the newest version's
    assert git(remote, "show", f"{tip}:Backtest/codes/task_001/strategy.py") == "mine2"
    # every tag on the remote names the commit commit_artifacts returned
    assert git(remote, "rev-parse", "corr_mine1^{commit}") == mine1["commit_sha"]
    assert git(remote, "rev-parse", "corr_mine2^{commit}") == mine2["commit_sha"]
    assert git(remote, "rev-parse", "prompt_abcdef^{commit}") == theirs["commit_sha"]
    # locally: the branch is the join, tags unchanged, theirs fetched with its tag
    assert git(repo, "rev-parse", BRANCH) == tip
    assert git(repo, "rev-parse", "corr_mine2^{commit}") == mine2["commit_sha"]
    assert git(repo, "rev-parse", "prompt_abcdef^{commit}") == mine1["commit_sha"]
    assert git(repo, "rev-parse", "corr_theirs^{commit}") == theirs["commit_sha"]
    listed = make_store(repo).list_artifacts()
    assert [e["correlation_id"] for e in listed] == ["corr_mine2", "corr_mine1", "corr_theirs"]
    assert [e["commit_sha"] for e in listed] == [
        mine2["commit_sha"],
        mine1["commit_sha"],
        theirs["commit_sha"],
    ]
    found = make_store(repo).get_artifact_by_correlation_id("theirs")
    assert found is not None and found["tags"] == ["corr_theirs"]  # prompt_ is mine1 here
    assert git(remote, "fsck", "--strict", "--no-dangling") == ""
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_push_after_commit_joins_when_the_remote_moved(tmp_path, repo, remote, git):
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    theirs = version(make_store(other), "theirs", "theirs\n")
    result = version(make_store(repo), "mine", "mine\n")
    assert result["pushed"] is True, result["push_error"]
    tip = git(remote, "rev-parse", BRANCH)
    assert git(remote, "rev-parse", f"{tip}^1", f"{tip}^2").split() == [
        theirs["commit_sha"],
        result["commit_sha"],
    ]
    assert git(remote, "rev-parse", "corr_mine^{commit}") == result["commit_sha"]


def test_rejecting_remote_reports_gits_reason_and_keeps_the_commit(repo, remote, git):
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: artifact pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    result = version(make_store(repo), "c1", "v1\n")
    assert result["pushed"] is False
    assert "policy: artifact pushes are frozen" in result["push_error"]
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    hook.unlink()
    pending = make_store(repo).push_pending()
    assert pending["pushed"] == [BRANCH]
    assert git(remote, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]
    assert make_store(repo).push_pending()["up_to_date"] == [BRANCH]


def test_hanging_remote_times_out_and_keeps_the_commit(repo, git, silent_server):
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{silent_server}/repo.git")
    start = time.monotonic()
    result = version(make_store(repo, push_timeout=2), "c1", "v1\n")
    elapsed = time.monotonic() - start
    assert result["pushed"] is False
    assert "timed out" in result["push_error"]
    assert elapsed < 2 + 5
    assert git(repo, "rev-parse", BRANCH) == result["commit_sha"]
    assert git(repo, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]


def test_push_pending_requires_a_remote(repo):
    with pytest.raises(ArtifactStoreError, match="no remote named 'upstream'"):
        make_store(repo).push_pending(remote="upstream")


def test_push_error_never_shows_url_credentials(repo, git):
    git(
        repo, "remote", "add", "origin", "http://bot:s3cr3t-pass@127.0.0.1:9/repo.git"
    )  # pragma: allowlist secret
    result = version(make_store(repo, push_timeout=5), "c1", "v1\n")
    assert result["pushed"] is False
    assert "s3cr3t-pass" not in result["push_error"]


def test_push_pending_reports_an_unreachable_remote_per_branch(repo, git, silent_server):
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{silent_server}/repo.git")
    version(make_store(repo, auto_push=False), "c1", "v1\n")
    with pytest.raises(ArtifactStoreError, match="timed out after 1 s") as exc:
        make_store(repo, push_timeout=1).push_pending()
    assert f"git://127.0.0.1:{silent_server}/repo.git" in str(exc.value)


# -- many machines (SPEC §3 base, §4 immutable versions, §6) ----------------------------


def clone_of(tmp_path: Path, remote: Path, git, name: str) -> Path:
    path = tmp_path / name
    git(tmp_path, "clone", "-q", str(remote), str(path))
    return path


def test_base_is_the_remotes_default_branch_not_local_work(tmp_path, repo, remote, git):
    (repo / "private.txt").write_text("not for the remote\n")
    git(repo, "add", "private.txt")
    git(repo, "commit", "-q", "-m", "local only")
    local_only = git(repo, "rev-parse", "HEAD")
    git(repo, "switch", "-q", "-c", "private-branch")
    result = version(make_store(repo), "c1", "v1\n")
    assert result["pushed"] is True, result["push_error"]
    assert git(repo, "rev-parse", f"{result['commit_sha']}^") == git(
        repo, "rev-parse", "origin/main"
    )
    assert git(remote, "cat-file", "-e", local_only, check=False) == ""
    missing = __import__("subprocess").run(["git", "cat-file", "-e", local_only], cwd=remote)
    assert missing.returncode != 0  # the unpushed commit never reached the remote
    assert "private.txt" not in git(remote, "ls-tree", "-r", "--name-only", BRANCH)


def test_push_refuses_to_publish_local_history_and_names_it(tmp_path, repo, remote, git):
    (repo / "notes.txt").write_text("draft\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-q", "-m", "unscanned draft")
    draft = git(repo, "rev-parse", "HEAD")
    result = version(make_store(repo, base_ref="HEAD"), "c1", "v1\n")
    assert result["pushed"] is False
    assert f"{draft[:12]} 'unscanned draft'" in result["push_error"]
    assert "not artifact versions" in result["push_error"] and "base_ref" in result["push_error"]
    assert git(repo, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]  # kept locally
    assert git(remote, "for-each-ref") == git(remote, "for-each-ref", "refs/heads/main")
    # once the remote has that history, the same branch goes
    git(repo, "push", "-q", "origin", "main")
    assert make_store(repo).push_pending()["pushed"] == [BRANCH]
    assert git(remote, "rev-parse", BRANCH) == result["commit_sha"]


def test_follow_tags_and_mirror_settings_never_widen_a_push(repo, remote, git):
    git(repo, "tag", "-a", "v9", "-m", "unrelated release")
    git(repo, "config", "push.followTags", "true")
    git(repo, "config", "remote.origin.mirror", "true")
    result = version(make_store(repo), "c1", "v1\n")
    assert result["pushed"] is True, result["push_error"]
    assert git(remote, "tag") == "corr_c1"


def test_server_without_atomic_push_gets_branch_then_tags(repo, remote, git):
    git(remote, "config", "receive.advertiseAtomic", "false")
    result = version(make_store(repo), "c1", "v1\n", prompt_hash="abcdef12")
    assert result["pushed"] is True, result["push_error"]
    assert git(remote, "rev-parse", BRANCH) == result["commit_sha"]
    assert git(remote, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]
    assert git(remote, "rev-parse", "prompt_abcdef12^{commit}") == result["commit_sha"]


def test_a_held_server_ref_lock_is_retried(repo, remote, git):
    """Another push holding the remote's ref lock: `[remote rejected] (cannot lock ref)`."""
    first = version(make_store(repo), "c1", "v1\n")
    assert first["pushed"] is True
    lock = remote / "refs" / "heads" / (BRANCH + ".lock")
    lock.write_text("")
    __import__("threading").Timer(1.0, lock.unlink).start()
    result = version(make_store(repo, push_timeout=20), "c2", "v2\n")
    assert result["pushed"] is True, result["push_error"]
    assert git(remote, "rev-parse", BRANCH) == result["commit_sha"]


def test_the_same_correlation_id_on_two_machines_keeps_the_remotes_tag(tmp_path, repo, remote, git):
    other = clone_of(tmp_path, remote, git, "other")
    theirs = version(make_store(other), "same-run", "theirs\n")
    mine = version(make_store(repo), "same-run", "mine\n")
    assert mine["pushed"] is True, mine["push_error"]
    assert mine["tags"] == ["corr_same-run"]
    assert len(mine["push_notes"]) == 1 and "corr_same-run" in mine["push_notes"][0]
    assert "the remote's tag stands" in mine["push_notes"][0]
    # nothing forced or moved: the remote's tag names their commit, ours names ours
    assert git(remote, "rev-parse", "corr_same-run^{commit}") == theirs["commit_sha"]
    assert git(repo, "rev-parse", "corr_same-run^{commit}") == mine["commit_sha"]
    both = git(remote, "rev-list", BRANCH).split()
    assert mine["commit_sha"] in both and theirs["commit_sha"] in both


def test_two_remotes_receive_identical_commit_ids(tmp_path, repo, remote, git):
    backup = tmp_path / "backup.git"
    git(tmp_path, "init", "-q", "--bare", str(backup))
    other = clone_of(tmp_path, remote, git, "other")
    version(make_store(other), "theirs", "theirs\n", prompt_hash="abcdef12")
    version(make_store(repo), "mine1", "mine1\n", prompt_hash="abcdef12")  # joins theirs
    version(make_store(repo), "mine2", "mine2\n")
    git(repo, "remote", "add", "backup", str(backup))
    git(repo, "push", "-q", "backup", "main")
    result = make_store(repo).push_pending(remote="backup")
    assert result["pushed"] == [BRANCH], result

    def refs(bare: Path) -> dict[str, str]:
        out = git(
            bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/ai", "refs/tags"
        )
        return dict(line.split() for line in out.splitlines())

    ours, theirs = refs(remote), refs(backup)
    # every branch and corr_ tag is identical; a prompt_ tag marks the first version of
    # that prompt where it was made: this clone's mine1 (the first remote kept theirs)
    prompt = "refs/tags/prompt_abcdef12"
    assert {k: v for k, v in ours.items() if k != prompt} == {
        k: v for k, v in theirs.items() if k != prompt
    }
    assert git(backup, "rev-parse", prompt + "^{commit}") == git(
        repo, "rev-parse", prompt + "^{commit}"
    )
    assert make_store(repo).push_pending(remote="backup")["up_to_date"] == [BRANCH]


def test_a_remote_branch_forced_backwards_is_restored_not_undone(tmp_path, repo, remote, git):
    store = make_store(repo)
    v = [version(store, f"c{i}", f"v{i}\n") for i in range(3)]
    assert all(r["pushed"] for r in v)
    git(repo, "push", "-q", "--force", "origin", f"{v[0]['commit_sha']}:refs/heads/{BRANCH}")
    late = clone_of(tmp_path, remote, git, "late")  # sees only c0 on the branch
    from_late = version(make_store(late), "late", "late\n")
    assert from_late["pushed"] is True
    mine = version(store, "c3", "v3\n")
    assert mine["pushed"] is True, mine["push_error"]
    on_branch = set(git(remote, "rev-list", BRANCH).split())
    for name in ("c0", "c1", "c2", "c3", "late"):
        assert git(remote, "rev-parse", f"corr_{name}^{{commit}}") in on_branch
    assert [r["commit_sha"] for r in v] == [
        git(repo, "rev-parse", f"corr_c{i}^{{commit}}") for i in range(3)
    ]


def test_a_new_runner_sees_the_remotes_versions_and_builds_on_them(tmp_path, repo, remote, git):
    first = version(make_store(repo), "c1", "v1\n")
    runner = clone_of(tmp_path, remote, git, "runner")  # no local task branch
    store = make_store(runner)
    listed = store.list_artifacts()
    assert [e["commit_sha"] for e in listed] == [first["commit_sha"]]
    assert store.find_version("wf/task_001")["commit_sha"] == first["commit_sha"]
    assert store.get_artifact_by_correlation_id("c1")["commit_sha"] == first["commit_sha"]
    second = version(store, "c2", "v2\n")
    assert second["pushed"] is True and second["push_error"] is None
    assert git(runner, "rev-parse", f"{second['commit_sha']}^") == first["commit_sha"]
    assert git(remote, "rev-parse", BRANCH) == second["commit_sha"]  # a fast-forward


def test_a_mirror_clone_joins_without_losing_its_version(tmp_path, repo, remote, git):
    """A `git clone --mirror` fetches +refs/*:refs/*: a join must not let that refspec
    overwrite the local task branch (the version would be on no branch at all)."""
    other = clone_of(tmp_path, remote, git, "other")
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--mirror", str(remote), str(mirror))
    theirs = version(make_store(other), "b1", "b1\n")
    mine = version(make_store(mirror), "m1", "m1\n")
    assert mine["pushed"] is True, mine["push_error"]
    on_remote = git(remote, "rev-list", BRANCH).split()
    assert mine["commit_sha"] in on_remote and theirs["commit_sha"] in on_remote
    assert git(remote, "rev-parse", "corr_m1^{commit}") == mine["commit_sha"]
    assert mine["commit_sha"] in git(mirror, "rev-list", BRANCH).split()


def test_tags_a_non_atomic_server_refused_are_pushed_later(repo, remote, git):
    git(remote, "config", "receive.advertiseAtomic", "false")
    gate = remote / "refuse-tags"
    gate.write_text("")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\nwhile read old new ref; do case $ref in refs/tags/*)\n"
        f"  [ -e {gate} ] && echo 'tags are frozen' >&2 && exit 1;; esac; done\nexit 0\n"
    )
    hook.chmod(0o755)
    result = version(make_store(repo), "c1", "v1\n")
    assert result["pushed"] is False and "tags are frozen" in result["push_error"]
    assert git(remote, "rev-parse", BRANCH) == result["commit_sha"]  # the branch went first
    gate.unlink()
    pending = make_store(repo).push_pending()
    assert pending["pushed"] == [BRANCH], pending
    assert git(remote, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]
    assert make_store(repo).push_pending()["up_to_date"] == [BRANCH]


def test_push_pending_restores_a_branch_deleted_on_the_remote(repo, remote, git):
    result = version(make_store(repo), "c1", "v1\n")
    assert result["pushed"] is True
    git(remote, "update-ref", "-d", f"refs/heads/{BRANCH}")
    # the remote-tracking branch still says the remote has it: nothing is pending
    assert make_store(repo).push_pending()["up_to_date"] == [BRANCH]
    assert git(remote, "branch", "--list", BRANCH) == ""
    pending = make_store(repo).push_pending(verify=True)  # asks the remote
    assert pending["pushed"] == [BRANCH], pending
    assert git(remote, "rev-parse", BRANCH) == result["commit_sha"]


def test_a_hand_made_commit_copying_the_trailers_is_not_published(repo, remote, git):
    result = version(make_store(repo, auto_push=False), "c1", "v1\n")
    work = repo.parent / "work"
    git(repo, "worktree", "add", "-q", str(work), BRANCH)
    (work / "private.env").write_text("DB_HOST=db.internal\n")
    git(work, "add", "private.env")
    message = git(work, "log", "-1", "--format=%B")
    git(work, "commit", "-q", "--amend", "-m", message)
    forged = git(work, "rev-parse", "HEAD")
    pending = make_store(repo).push_pending()
    assert pending["success"] is False
    assert f"{forged[:12]} 'artifacts(wf/task_001): corr_c1'" in pending["errors"][BRANCH]
    assert git(remote, "for-each-ref", f"refs/heads/{BRANCH}") == ""
    assert result["commit_sha"] != forged


@pytest.mark.parametrize(
    "name",
    ["--upload-pack=touch PWNED;false", "https://tok123@127.0.0.1:9/x.git", "../elsewhere"],
)
def test_a_remote_name_is_never_an_option_url_or_path(repo, git, name):
    result = version(make_store(repo, remote_name=name), "c1", "v1\n")
    assert result["pushed"] is False and "name of a configured git remote" in result["push_error"]
    assert "tok123" not in result["push_error"]
    assert not (repo / "PWNED").exists()
    with pytest.raises(ArtifactStoreError, match="name of a configured git remote") as exc:
        make_store(repo).push_pending(remote=name)
    assert "tok123" not in str(exc.value)


def test_a_branch_prefix_under_head_is_refused(repo):
    with pytest.raises(ArtifactStoreError, match="starts with 'HEAD'"):
        make_store(repo, branch_prefix="HEAD/x")


def test_push_pending_catches_up_with_a_remote_that_is_ahead(tmp_path, repo, remote, git):
    """Another machine joined our version and went on: the local branch moves up to the
    remote's (their versions and tags come along), so a second remote gets it all."""
    mine = version(make_store(repo), "mine", "mine\n")
    other = clone_of(tmp_path, remote, git, "other")
    theirs = version(make_store(other), "theirs", "theirs\n")
    pending = make_store(repo).push_pending()  # O(pending): the remote is not asked
    assert pending["up_to_date"] == [BRANCH] and pending["pushed"] == []
    assert git(repo, "rev-parse", BRANCH) == mine["commit_sha"]
    pending = make_store(repo).push_pending(verify=True)
    assert pending["up_to_date"] == [BRANCH] and pending["pushed"] == []
    assert git(repo, "rev-parse", BRANCH) == theirs["commit_sha"]
    assert git(repo, "rev-parse", "corr_theirs^{commit}") == theirs["commit_sha"]
    assert git(repo, "rev-parse", "corr_mine^{commit}") == mine["commit_sha"]


def test_push_pending_of_a_version_pushed_without_a_read_joins_a_remote_that_moved(
    tmp_path, repo, remote, git
):
    """push_pending pushes a branch whose versions sit on what this clone last saw on the
    remote without reading it first; when another clone moved the remote meanwhile the
    push is refused and joined: both versions on the remote, under their own ids."""
    first = version(make_store(repo), "first", "first\n")
    other = clone_of(tmp_path, remote, git, "other")
    theirs = version(make_store(other), "theirs", "theirs\n")
    mine = version(make_store(repo, auto_push=False), "mine", "mine\n")
    pending = make_store(repo).push_pending()
    assert pending["pushed"] == [BRANCH] and pending["success"], pending
    tip = git(remote, "rev-parse", BRANCH)
    for made in (first, theirs, mine):
        git(remote, "merge-base", "--is-ancestor", made["commit_sha"], tip)
    assert git(remote, "rev-parse", "corr_mine^{commit}") == mine["commit_sha"]
    assert git(remote, "rev-parse", "corr_theirs^{commit}") == theirs["commit_sha"]
    git(remote, "fsck", "--strict")


@pytest.mark.parametrize(
    "text",
    [
        "https://alice:ab'cdSECRET@host.invalid/r.git",
        'https://alice:SEC"RETx@host/x',
        "https://SECRET'tok@host/x",
        "ssh://alice:SEC'RET@host/x",
        "http://h/x?circle-token=SECRET&a=1",
        "http://h/x?X-Gitlab-Token=SECRET",
        "http://h/x?access-token=SECRET",
        "http://h/x?private_token=SECRET",
        "http://h/x?jwt=SECRET",
        "fatal: could not read Password for 'http://SECRET@127.0.0.1:9': prompts disabled",
    ],
)
def test_redaction_of_credentials_in_urls(text):
    from pytest_artifact_store.git import redact

    assert "SECRET" not in redact(text) and "***" in redact(text)


def test_a_runner_fetches_only_its_workflow(tmp_path, repo, remote, git, capsys):
    """A new runner of a big fleet: a clone of the default branch only, then the one
    workflow it works on, with its versions' tags; other workflows stay on the server."""
    from pytest_artifact_store import cli

    store = make_store(repo)
    mine = store.commit_artifacts(
        "wf", "t1", {"a.py": _src(tmp_path, "a")}, correlation_id="m1", prompt_hash="abcdef12"
    )
    other = store.commit_artifacts(
        "other", "t9", {"b.py": _src(tmp_path, "b")}, correlation_id="o1"
    )
    assert mine["pushed"] and other["pushed"]
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "-q", "--single-branch", "--no-tags", str(remote), str(runner))
    assert make_store(runner).list_artifacts() == []
    result = make_store(runner).fetch("wf")
    assert result["branches"] == ["ai/generated/wf/t1"]
    assert result["tags"] == ["corr_m1", "prompt_abcdef12"]
    found = make_store(runner).get_artifact_by_correlation_id("m1")
    assert found is not None and found["commit_sha"] == mine["commit_sha"]
    assert [e["workflow_id"] for e in make_store(runner).list_artifacts()] == ["wf"]
    assert git(runner, "tag") == "corr_m1\nprompt_abcdef12"
    assert cli.main(["--repo", str(runner), "fetch", "--workflow", "other", "--task", "t9"]) == 0
    assert "other/t9" in capsys.readouterr().out
    assert git(runner, "rev-parse", "corr_o1^{commit}") == other["commit_sha"]


def _src(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"{text}-{time.monotonic_ns()}.txt"
    path.write_text(text + "\n")
    return path


def test_push_pending_finds_pending_work_without_asking_the_remote(tmp_path, repo, remote, git):
    """O(pending): branches whose remote-tracking branch matches are not read from the
    remote; only the pending one is (so a remote that is gone fails only for it)."""
    store = make_store(repo)
    files = [_file(tmp_path, f"d{i}") for i in range(3)]
    done = [
        store.commit_artifacts("wf", f"task_{i}", [f], correlation_id=f"d{i}")
        for i, f in enumerate(files)
    ]
    assert all(r["pushed"] for r in done)
    git(repo, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    quiet = make_store(repo).push_pending()
    assert quiet["success"] and quiet["pushed"] == [] and len(quiet["up_to_date"]) == 3
    offline = make_store(repo, auto_push=False)
    offline.commit_artifacts("wf", "task_9", [_file(tmp_path, "p")], correlation_id="p1")
    with pytest.raises(ArtifactStoreError, match=r"gone\.git"):
        make_store(repo).push_pending()
    git(repo, "remote", "set-url", "origin", str(remote))
    pending = make_store(repo).push_pending()
    assert pending["pushed"] == ["ai/generated/wf/task_9"], pending
    tag = "corr_p1^{commit}"
    assert git(remote, "rev-parse", tag) == git(repo, "rev-parse", tag)


def test_push_pending_lists_only_the_remotes_branches(tmp_path, repo, remote, git, monkeypatch):
    """git 2.39's ls-remote sends the server a prefix only for --heads/--tags: with a
    pattern alone a fleet's remote lists every ref it has (its tags). push_pending
    reads branches with --heads, and the remote's index refs only when a branch it
    saw there is gone (archived there, maybe). A branch whose versions sit on top of what
    this clone last saw there is pushed without a read (the push answers)."""
    from pytest_artifact_store.remote.link import Link

    calls: list[list[str]] = []
    real_run = Link.run

    def spy(self: Link, step: str, args: list[str]) -> object:
        if args[0] == "ls-remote":
            calls.append(args)
        return real_run(self, step, args)

    monkeypatch.setattr(Link, "run", spy)
    store = make_store(repo)
    assert store.commit_artifacts("wf", "t", [_file(tmp_path, "a")], correlation_id="a1")["pushed"]
    offline = make_store(repo, auto_push=False)
    offline.commit_artifacts("wf", "t", [_file(tmp_path, "b")], correlation_id="b1")
    assert make_store(repo).push_pending()["pushed"] == ["ai/generated/wf/t"]
    assert calls == []  # a version on top of what it saw there: the push itself answers
    offline.commit_artifacts("wf", "u", [_file(tmp_path, "c")], correlation_id="c1")
    assert make_store(repo).push_pending()["pushed"] == ["ai/generated/wf/u"]
    assert len(calls) == 1 and calls[0][1] == "--heads", calls  # a task new to it: asked
    git(remote, "update-ref", "-d", "refs/heads/ai/generated/wf/t")  # gone there
    calls.clear()
    restored = make_store(repo).push_pending(verify=True)
    assert restored["pushed"] == ["ai/generated/wf/t"], restored
    assert [c[1] for c in calls] == ["--heads", "origin"], calls  # and the index refs


def _file(tmp_path, name):
    path = tmp_path / f"{name}.csv"
    path.write_text(f"{name}\n")
    return path
