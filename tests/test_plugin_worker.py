"""The store's worker process (issue 16): pytest's own process never imports the store
or the scanner; a worker that dies is replaced by a commit in process; none is left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import GitRunner

BRANCH = "ai/generated/wf_w/task_w"

CONFTEST = textwrap.dedent(
    """
    import json, os, sys

    def pytest_unconfigure(config):
        heavy = sorted(
            m for m in sys.modules
            if m.startswith(("pytest_artifact_store.store", "pytest_artifact_store.scan",
                             "pytest_artifact_store.git", "pytest_artifact_store.remote"))
        )
        with open(os.environ["MODULES_OUT"], "w") as fh:
            json.dump(heavy, fh)
    """
)


def _project(tmp_path: Path, repo: Path, test_body: str = "    assert True\n") -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text(
        "[pytest]\n"
        f"artifact_store_repo = {repo}\n"
        "artifact_store_workflow_id = wf_w\n"
        "artifact_store_task_id = task_w\n"
        "artifact_store_auto_push = false\n"
    )
    (project / "conftest.py").write_text(CONFTEST)
    (project / "test_w.py").write_text("import os, signal\n\ndef test_ok():\n" + test_body)
    return project


def _signal_children(name: str) -> str:
    """A test body that sends signal ``name`` to pytest's child processes (the worker)."""
    return (
        "    me = os.getpid()\n"
        "    for pid in os.listdir('/proc'):\n"
        "        if pid.isdigit():\n"
        "            try:\n"
        "                stat = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()\n"
        "            except OSError:\n"
        "                continue\n"
        "            if int(stat[1]) == me:\n"
        f"                os.kill(int(pid), signal.{name})\n"
    )


def _run(project: Path, tmp_path: Path, cid: str) -> tuple[subprocess.CompletedProcess[str], list]:
    out = tmp_path / f"modules-{cid}.json"
    env = {
        **os.environ,
        "MODULES_OUT": str(out),
        "PYTEST_ADDOPTS": "-p no:cacheprovider -p no:hypothesispytest",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--artifact-store", f"--artifact-correlation-id={cid}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc, json.loads(out.read_text())


def test_pytest_itself_imports_neither_the_store_nor_the_scanner(
    tmp_path: Path, repo: Path, git: GitRunner
) -> None:
    proc, modules = _run(_project(tmp_path, repo), tmp_path, "w1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"committed 2 files to {BRANCH}" in proc.stdout
    assert git(repo, "rev-parse", "corr_w1^{commit}") == git(repo, "rev-parse", BRANCH)
    # the settings are checked against the store's config (and its built-in rule
    # patterns); the store, git, remote and scanner modules load in the worker only
    light = {"store", "store.config", "scan", "scan.rules"}
    assert set(modules) <= {f"pytest_artifact_store.{m}" for m in light}, modules


def test_a_worker_that_dies_is_replaced_by_a_commit_in_process(
    tmp_path: Path, repo: Path, git: GitRunner
) -> None:
    kill_worker = _signal_children("SIGKILL")
    proc, modules = _run(_project(tmp_path, repo, kill_worker), tmp_path, "w2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"committed 2 files to {BRANCH}" in proc.stdout
    assert git(repo, "rev-parse", "corr_w2^{commit}") == git(repo, "rev-parse", BRANCH)
    assert "pytest_artifact_store.store.commit" in modules  # committed in process
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


@pytest.mark.parametrize("bad", ["missing", "plain"])
def test_a_bad_repository_is_a_usage_error_before_any_test_runs(tmp_path: Path, bad: str) -> None:
    target = tmp_path / bad
    if bad == "plain":
        target.mkdir()
    project = _project(tmp_path, target, "    open(os.environ['MODULES_OUT'] + '.ran', 'w')\n")
    proc, _ = _run(project, tmp_path, "w3")
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "invalid artifact_store_repo" in proc.stderr
    assert not (tmp_path / "modules-w3.json.ran").exists()  # no test ran


def test_the_environment_at_configure_time_reaches_the_worker(
    tmp_path: Path, repo: Path, git: GitRunner
) -> None:
    project = _project(tmp_path, repo)
    with (project / "conftest.py").open("a") as fh:
        fh.write(
            "\ndef pytest_configure(config):\n    os.environ['GIT_AUTHOR_NAME'] = 'configure-bot'\n"
        )
    proc, _ = _run(project, tmp_path, "w4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git(repo, "log", "-1", "--format=%an", BRANCH) == "configure-bot"


def test_a_stopped_worker_is_replaced_by_a_commit_in_process(
    tmp_path: Path, repo: Path, git: GitRunner
) -> None:
    stop_worker = _signal_children("SIGSTOP")
    proc, modules = _run(_project(tmp_path, repo, stop_worker), tmp_path, "w5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git(repo, "rev-parse", "corr_w5^{commit}") == git(repo, "rev-parse", BRANCH)
    assert "pytest_artifact_store.store.commit" in modules
