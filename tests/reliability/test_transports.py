"""Remotes as fleets meet them (SPEC §6): smart HTTP through nginx + `git http-backend`
with basic auth, and SSH with deploy keys through openssh-server -- real servers on
127.0.0.1 started by each test. No credential is ever printed or stored; every failure
names its real cause; a push is one connection; a fleet over SSH with sshd's defaults
loses no push."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from fleet_support import run_fleet
from servers import http_git_server, missing_http, missing_ssh, ssh_git_server

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

BRANCH = "ai/generated/wf/t1"
TOKEN = "ghp_TOKEN7fq2Lx9Vb3Kd8Zr4Nw6Ty1Hs5Pm0Qa"  # pragma: allowlist secret
PASSWORD = "s3cret-Pa55-w0rd-Zq9"  # pragma: allowlist secret

needs_http = pytest.mark.skipif(bool(missing_http()), reason=str(missing_http()))
needs_ssh = pytest.mark.skipif(bool(missing_ssh()), reason=str(missing_ssh()))


@pytest.fixture
def served(tmp_path: Path, repo: Path, git) -> Path:
    """A directory of bare repositories: remote.git is a copy of ``repo``."""
    root = tmp_path / "served"
    root.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(root / "remote.git"))
    return root


def commit(repo: Path, corr: str, size: int = 0, **kw: object) -> dict:
    src = repo.parent / f"{corr}.py"
    src.write_bytes(f"# {corr}\n".encode() + os.urandom(size).hex().encode())
    kw.setdefault("push_timeout", 20)
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, **kw))  # type: ignore[arg-type]
    return store.commit_artifacts("wf", "t1", [src], correlation_id=corr)


def cli_push(repo: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_artifact_store.cli", "--repo", str(repo), "push"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout + proc.stderr


def stored_anywhere(repo: Path, secret: str) -> list[str]:
    """Files under .git (but the user's own config) that contain ``secret``."""
    found = []
    for path in (repo / ".git").rglob("*"):
        if path.is_file() and path.name != "config" and secret.encode() in path.read_bytes():
            found.append(str(path))
    return found


# -- HTTP ---------------------------------------------------------------------------------


@needs_http
def test_a_token_as_the_url_user_is_never_printed_and_401_says_credentials(
    tmp_path, repo, served, git
):
    with http_git_server(tmp_path / "http", served, users={"bot": PASSWORD}) as server:
        git(repo, "remote", "add", "origin", server.url("remote.git", TOKEN))
        git(repo, "push", "-q", server.url("remote.git", f"bot:{PASSWORD}"), "main")
        result = commit(repo, "c1")
        assert result["pushed"] is False
        assert "credentials missing or refused (HTTP 401)" in result["push_error"]
        assert "credential helper" in result["push_error"]
        out = cli_push(repo)
        assert "credentials missing or refused" in out
    for text in (result["push_error"], out):
        assert TOKEN not in text and TOKEN[:12] not in text
    assert stored_anywhere(repo, TOKEN) == []


@needs_http
def test_a_password_url_pushes_and_a_wrong_one_is_never_printed(tmp_path, repo, served, git):
    with http_git_server(tmp_path / "http", served, users={"bot": PASSWORD}) as server:
        git(repo, "remote", "add", "origin", server.url("remote.git", "bot:wrong-" + PASSWORD))
        refused = commit(repo, "c1")
        assert refused["pushed"] is False
        assert "credentials missing or refused" in refused["push_error"]
        assert PASSWORD not in refused["push_error"]
        git(repo, "remote", "set-url", "origin", server.url("remote.git", f"bot:{PASSWORD}"))
        git(repo, "fetch", "-q", "origin")
        ok = commit(repo, "c2")
        assert ok["pushed"] is True, ok["push_error"]
        assert git(served / "remote.git", "rev-parse", "corr_c2^{commit}") == ok["commit_sha"]
    assert stored_anywhere(repo, PASSWORD) == []


@needs_http
def test_token_query_parameters_are_redacted(tmp_path, repo, served, git):
    with http_git_server(tmp_path / "http", served) as server:
        url = server.url("remote.git") + f"?access_token={TOKEN}"
        git(repo, "remote", "add", "origin", url)
        result = commit(repo, "c1")
    assert result["pushed"] is False
    assert TOKEN not in result["push_error"] and "access_token=***" in result["push_error"]


@needs_http
def test_a_request_too_large_says_413(tmp_path, repo, served, git):
    with http_git_server(tmp_path / "http", served, max_body="2k") as server:
        git(repo, "remote", "add", "origin", server.url("remote.git"))
        git(repo, "fetch", "-q", "origin")
        result = commit(repo, "big", size=64 * 1024)
    assert result["pushed"] is False
    assert "too large (HTTP 413)" in result["push_error"], result["push_error"]


@needs_http
def test_a_protected_branch_keeps_the_servers_words(tmp_path, repo, served, git):
    hook = served / "remote.git" / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\necho 'GL-HOOK-ERR: You are not allowed to push code to protected "
        "branches on this project.' >&2\nexit 1\n"
    )
    hook.chmod(0o755)
    with http_git_server(tmp_path / "http", served) as server:
        git(repo, "remote", "add", "origin", server.url("remote.git"))
        git(repo, "fetch", "-q", "origin")
        result = commit(repo, "c1")
    assert result["pushed"] is False
    assert "hooks declined the push" in result["push_error"]
    assert "You are not allowed to push code to protected branches" in result["push_error"]


@needs_http
def test_a_missing_repository_says_not_found(tmp_path, repo, served, git):
    with http_git_server(tmp_path / "http", served) as server:
        git(repo, "remote", "add", "origin", server.url("nowhere.git"))
        result = commit(repo, "c1", base_ref="HEAD")
    assert result["pushed"] is False
    assert "repository not found" in result["push_error"]
    assert f"127.0.0.1:{server.port}/nowhere.git" in result["push_error"]


@needs_http
def test_state_around_a_push_is_read_from_the_push_url(tmp_path, repo, served, git):
    """Fetch from a mirror, push to the primary: a lost race is joined with what the
    primary has, not with the mirror's stale copy."""
    mirror = served / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(served / "remote.git"), str(mirror))
    with http_git_server(tmp_path / "http", served) as server:
        other = tmp_path / "other"
        git(tmp_path, "clone", "-q", server.url("remote.git"), str(other))
        theirs = commit(other, "theirs")
        assert theirs["pushed"] is True, theirs["push_error"]
        git(repo, "remote", "add", "origin", server.url("mirror.git"))
        git(repo, "remote", "set-url", "--push", "origin", server.url("remote.git"))
        git(repo, "fetch", "-q", "origin")
        mine = commit(repo, "mine")
        assert mine["pushed"] is True, mine["push_error"]
    on_primary = git(served / "remote.git", "rev-list", BRANCH).split()
    assert {theirs["commit_sha"], mine["commit_sha"]} <= set(on_primary)


# -- SSH ----------------------------------------------------------------------------------


def _accepted(log: Path) -> int:
    return log.read_text(errors="replace").count("Accepted publickey")


@needs_ssh
def test_a_deploy_key_push_is_one_connection(tmp_path, repo, served, git):
    with ssh_git_server(tmp_path / "ssh") as server:
        key = server.new_key("deploy")
        git(repo, "config", "core.sshCommand", server.ssh_command(key))  # the seed's setup
        git(repo, "remote", "add", "origin", server.url(served / "remote.git"))
        git(repo, "fetch", "-q", "origin")
        before = _accepted(server.log)
        result = commit(repo, "c1")
        assert result["pushed"] is True, result["push_error"]
        again = commit(repo, "c2")
        assert again["pushed"] is True, again["push_error"]
        assert _accepted(server.log) - before == 2  # one connection per push
    assert git(served / "remote.git", "rev-parse", "corr_c2^{commit}") == again["commit_sha"]


@needs_ssh
@pytest.mark.parametrize(
    ("case", "words", "said"),
    [
        ("unknown host key", "host key is unknown", "Host key verification failed"),
        ("refused key", "refused the key", "Permission denied (publickey)"),
        ("read-only key", "deploy key is read-only", "has been marked as read only"),
    ],
)
def test_ssh_failures_name_their_cause(tmp_path, repo, served, git, case, words, said):
    with ssh_git_server(tmp_path / "ssh") as server:
        key = server.new_key(
            "k", read_only=case == "read-only key", authorized=case != "refused key"
        )
        known = tmp_path / "empty_known_hosts" if case == "unknown host key" else None
        git(repo, "config", "core.sshCommand", server.ssh_command(key, known_hosts=known))
        git(repo, "remote", "add", "origin", server.url(served / "remote.git"))
        result = commit(repo, "c1", base_ref="HEAD")
    assert result["pushed"] is False
    assert words in result["push_error"] and said in result["push_error"]
    if case == "unknown host key":
        assert "ssh-keyscan" in result["push_error"]
    assert git(repo, "rev-parse", "corr_c1^{commit}") == result["commit_sha"]


@needs_ssh
def test_a_fleet_over_ssh_with_sshds_defaults_loses_no_push(tmp_path, served, git):
    with ssh_git_server(tmp_path / "ssh") as server:
        key = server.new_key("fleet")
        tasks = {f"r{i:02d}": "hot" if i % 2 == 0 else f"t{i % 5}" for i in range(25)}
        fleet = run_fleet(
            tmp_path / "fleet",
            server.url(served / "remote.git"),
            tasks,
            2,
            clone_config=(f"core.sshCommand={server.ssh_command(key)}",),
        )
    assert len(fleet.reports) == 50
    assert [(r["runner"], r["error"]) for r in fleet.reports if not r["pushed"]] == []
    for r in fleet.reports:
        on_branch = subprocess.run(
            ["git", "merge-base", "--is-ancestor", str(r["sha"]), f"ai/generated/wf/{r['task']}"],
            cwd=served / "remote.git",
            check=False,
        )
        assert on_branch.returncode == 0, r
    assert git(served / "remote.git", "fsck", "--strict", "--no-dangling") == ""


@needs_http
def test_a_server_answering_502_is_retried_then_named(tmp_path, repo, served, git):
    with http_git_server(tmp_path / "http", served, status=502) as server:
        git(repo, "remote", "add", "origin", server.url("remote.git"))
        git(repo, "update-ref", "refs/remotes/origin/main", "main")  # as a fetch had left it
        start = time.monotonic()
        result = commit(repo, "c1", push_timeout=3)
        elapsed = time.monotonic() - start
        hits = server.access_log.read_text().count(" 502 ")
    assert result["pushed"] is False
    assert "kept losing its connection for 3 s" in result["push_error"]
    assert "returned error: 502" in result["push_error"]
    assert "other pushes" not in result["push_error"]
    assert hits >= 2 and elapsed < 3 + 5  # retried, within push_timeout


def _ssh_leftovers(tmp: Path) -> set[str]:
    """Shared-connection socket dirs under ``tmp`` and ssh masters using one of them."""
    dirs = {p.name for p in tmp.glob("artifact-store-ssh-*")}
    masters = subprocess.run(
        ["pgrep", "-f", f"{tmp}/artifact-store-ssh-"], capture_output=True, text=True
    )
    return dirs | {f"pid {p}" for p in masters.stdout.split()}


@needs_ssh
def test_push_timeout_holds_over_a_shared_ssh_connection(tmp_path, repo, served, git, monkeypatch):
    """A server that stalls after login (a slow hook): the push stops at push_timeout and
    the shared connection's master is stopped with it."""
    hook = served / "remote.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nsleep 30\n")
    hook.chmod(0o755)
    private = Path(tempfile.mkdtemp(prefix="as-", dir="/tmp"))  # short: a socket's path
    monkeypatch.setattr(tempfile, "tempdir", str(private))  # this test's ssh sockets only
    with ssh_git_server(tmp_path / "ssh") as server:
        key = server.new_key("deploy")
        git(repo, "config", "core.sshCommand", server.ssh_command(key))
        git(repo, "remote", "add", "origin", server.url(served / "remote.git"))
        git(repo, "fetch", "-q", "origin")
        start = time.monotonic()
        result = commit(repo, "c1", push_timeout=3)
        elapsed = time.monotonic() - start
        assert _ssh_leftovers(private) == set()
    assert result["pushed"] is False and "timed out after 3 s" in result["push_error"]
    assert elapsed < 3 + 5


# -- folding (gc --fold-tags --push) over both transports ----------------------------------


def _fold_and_check(repo: Path, bare: Path, git) -> dict:
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, push_timeout=60))
    for i in range(6):
        src = repo.parent / f"f{i}.csv"
        src.write_text(f"{i}\n")
        result = store.commit_artifacts("wf", f"task_{i % 3}", [src], correlation_id=f"f{i}")
        assert result["pushed"] is True, result["push_error"]
    store.archive(0, keep_last=1)  # task_2 holds the newest version
    folded = store.fold_tags(push=True)
    assert git(bare, "tag", "--list").split() == ["corr_f2", "corr_f5"]
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/heads/ai/").split() == [
        "refs/heads/ai/generated/wf/task_2"
    ]
    assert git(bare, "fsck", "--strict", "--no-dangling") == ""
    index = "refs/artifact-index/ai/generated/wf"
    assert git(bare, "rev-parse", index) == git(repo, "rev-parse", index)
    return folded["push"]


@needs_ssh
def test_a_fold_push_over_ssh_deletes_in_one_receive_pack_transaction(tmp_path, repo, served, git):
    with ssh_git_server(tmp_path / "ssh") as server:
        key = server.new_key("deploy")
        git(repo, "config", "core.sshCommand", server.ssh_command(key))
        git(repo, "remote", "add", "origin", server.url(served / "remote.git"))
        git(repo, "fetch", "-q", "origin")
        pushed = _fold_and_check(repo, served / "remote.git", git)
    # the index with one push, then the 4 tags and 2 branches in one transaction
    assert pushed["pushes"] == 2 and pushed["tags_deleted"] == 4


@needs_http
def test_a_fold_push_over_http_uses_gits_push(tmp_path, repo, served, git):
    with http_git_server(tmp_path / "http", served, users={"bot": PASSWORD}) as server:
        git(repo, "remote", "add", "origin", server.url("remote.git", f"bot:{PASSWORD}"))
        git(repo, "fetch", "-q", "origin")
        pushed = _fold_and_check(repo, served / "remote.git", git)
    assert pushed["tags_deleted"] == 4 and len(pushed["branches_deleted"]) == 2
    assert stored_anywhere(repo, PASSWORD) == []
