"""Ctrl-C and a CI cancel (SIGTERM) while `pytest --artifact-store` pushes (SPEC §4): no
git process is left behind, no temporary file, the summary says whether the version
landed, exit status 2 as pytest's own interrupts, no traceback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from fleet_support import git_processes_in

BRANCH = "ai/generated/wf_sig/task_sig"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_push_says_the_version_landed_and_leaves_nothing(
    tmp_path, repo, git, silent_server, signum
):
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{silent_server}/repo.git")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text(
        "[pytest]\n"
        f"artifact_store_repo = {repo}\n"
        "artifact_store_workflow_id = wf_sig\n"
        "artifact_store_task_id = task_sig\n"
        "artifact_store_push_timeout = 120\n"
    )
    (project / "test_x.py").write_text("def test_ok():\n    assert True\n")
    private_tmp = tmp_path / "tmpdir"
    private_tmp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(private_tmp),
        "ARTIFACT_STORE_CORRELATION_ID": "sig1",
        "PYTEST_ADDOPTS": "-p no:cacheprovider -p no:hypothesispytest",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--artifact-store"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a terminal's Ctrl-C goes to the whole foreground group
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the version lands, then the push hangs
        landed = subprocess.run(
            ["git", "rev-parse", "-q", "--verify", "corr_sig1^{commit}"],
            cwd=repo,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if landed and any("remote" in c or "push" in c for c in git_processes_in(repo)):
            break  # ls-remote or push: talking to the server that never answers
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the session never reached its push")
    os.killpg(proc.pid, signum) if signum == signal.SIGINT else proc.send_signal(signum)
    out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 2, out
    assert f"interrupted — version {landed[:10]} landed on {BRANCH}" in out
    assert "Traceback" not in out
    time.sleep(0.3)
    assert git_processes_in(repo) == []
    assert list(private_tmp.iterdir()) == []
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("setpriv") is None,
    reason="the parent-death signal needs Linux and util-linux's setpriv",
)
def test_a_library_caller_killed_outright_takes_its_git_with_it(tmp_path, repo, git, silent_server):
    """SIGKILL cannot be caught: git talking to a server that never answers must not
    outlive its caller (it runs in a session of its own, out of the caller's group)."""
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{silent_server}/repo.git")
    src = tmp_path / "s.py"
    src.write_text("x = 1\n")
    script = (
        "import sys\n"
        "from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig\n"
        "s = ArtifactStore(ArtifactStoreConfig(repo_path=sys.argv[1], push_timeout=300))\n"
        "s.commit_artifacts('wf', 't', [sys.argv[2]], correlation_id='k1')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(repo), str(src)])
    deadline = time.monotonic() + 60
    while not any("remote" in c or "push" in c for c in git_processes_in(repo)):
        assert time.monotonic() < deadline and proc.poll() is None, "never reached the push"
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    time.sleep(0.5)
    assert git_processes_in(repo) == []
