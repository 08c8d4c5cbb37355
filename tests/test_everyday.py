"""Everyday use (issue 20): what a new user trips over -- messages, exit codes, defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GitRunner

from pytest_artifact_store import (
    ArtifactStore,
    ArtifactStoreConfig,
    ArtifactStoreError,
    SecretDetectedError,
)
from pytest_artifact_store.scan import Scanner

STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_artifact_store.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_missing_path_is_a_usage_error_for_every_checker(tmp_path: Path) -> None:
    gone = str(tmp_path / "nonexist")
    for args in (["scan", gone], ["check-metadata", gone]):
        res = _cli(*args)
        assert res.returncode == 2, args
        assert f"error: no such file or directory: {gone}" in res.stderr
    hook = subprocess.run(
        [sys.executable, "-m", "pytest_artifact_store.hooks.metadata_hook", gone],
        capture_output=True,
        text=True,
        check=False,
    )
    assert hook.returncode == 2 and "no such file or directory" in hook.stderr


def test_secret_key_is_reported_as_a_secret_not_an_api_key() -> None:
    findings = Scanner().scan_bytes(b'secret_key = "Zx9kQ2mP7vL4nR8tW1yB6cD3fG5hJ0aS"\n', "s.py")
    assert [f.rule for f in findings] == ["secret-assignment"]
    findings = Scanner().scan_bytes(b'api_key = "Zx9kQ2mP7vL4nR8tW1yB6cD3fG5hJ0aS"\n', "s.py")
    assert [f.rule for f in findings] == ["api-key-assignment"]


@pytest.mark.parametrize(
    ("name", "pragma"), [("trades.csv", False), ("report.json", False), ("strategy.py", True)]
)
def test_a_secret_refusal_offers_what_works_for_that_file(
    repo: Path, tmp_path: Path, name: str, pragma: bool
) -> None:
    src = tmp_path / name
    src.write_text(f"x = 1\nkey = {STRIPE}\n")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    with pytest.raises(SecretDetectedError) as caught:
        store.commit_artifacts("wf", "t1", [src], None, "c1")
    text = str(caught.value)
    assert f"{src}:2 (stripe-secret-key: sk_l…)." in text  # no "sk_l…." run-on
    assert ".artifact-store-allowlist" in text and "--update-allowlist" in text
    assert ("pragma: allowlist secret" in text) is pragma
    assert STRIPE not in text


def test_unknown_tag_error_reads_right_for_both_spellings(repo: Path) -> None:
    assert (
        "no tag corr_nope in this repository"
        in _cli("--repo", str(repo), "revert", "corr_nope").stderr
    )
    assert "no tag nope or corr_nope in" in _cli("--repo", str(repo), "revert", "nope").stderr


def test_the_pre_push_refusal_says_the_secret_is_in_local_history(
    repo: Path, bare_remote: Path, git: GitRunner
) -> None:
    assert _cli("--repo", str(repo), "install-hooks").returncode == 0
    (repo / "settings.py").write_text(f"KEY = '{STRIPE}'  # pragma: allowlist secret\n")
    git(repo, "add", "settings.py")
    git(repo, "commit", "-q", "--no-verify", "-m", "oops")
    (repo / "settings.py").write_text(f"KEY = '{STRIPE}'\n")
    git(repo, "commit", "-qam", "oops again", "--no-verify")
    push = subprocess.run(
        ["git", "push", "origin", "main"],
        cwd=repo,
        env={**os.environ, "ARTIFACT_STORE_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
    )
    assert push.returncode != 0
    assert "already in your local history" in push.stderr and "rotate" in push.stderr
    assert STRIPE not in push.stderr + push.stdout


# ---------------------------------------------------------------- the plugin
def _session(pytester: pytest.Pytester, repo: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--artifact-store",
        f"--artifact-repo={repo}",
        "--artifact-workflow-id=wf",
        "--artifact-task-id=t1",
        "--artifact-no-push",
        *args,
    )


def test_the_users_own_test_report_is_kept_beside_the_plugins(
    pytester_git: None, pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    out = pytester.path / "output"
    out.mkdir()
    (out / "test_report.json").write_text('{"tester": "agent", "verdict": "pass"}\n')
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = _session(
        pytester, repo, "--artifact-correlation-id=r1", "--artifact-files=output/test_report.json"
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*note: test_report.json is yours; the plugin's report is pytest_report.json*"]
    )
    task = "Backtest/codes/t1"
    assert (
        git(repo, "show", f"corr_r1:{task}/test_report.json")
        == '{"tester": "agent", "verdict": "pass"}'
    )
    assert '"passed": 1' in git(repo, "show", f"corr_r1:{task}/pytest_report.json")


def test_a_ci_rerun_with_the_same_correlation_id_is_an_idempotent_repeat(
    pytester_git: None,
    pytester: pytest.Pytester,
    repo: Path,
    git: GitRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (pytester.path / "trades.csv").write_text("t,side\n1,buy\n")
    pytester.makepyfile(
        """
        import os, time
        def test_ok(artifact_store):
            time.sleep(0.01)  # the report's durations differ from run to run
            artifact_store.record_metric("sharpe", float(os.environ.get("SHARPE", "1.5")))
        """
    )
    args = ("--artifact-correlation-id=ci-1", "--artifact-files=trades.csv")
    first = _session(pytester, repo, *args)
    assert first.ret == 0, first.stdout.str()
    sha = git(repo, "rev-parse", "corr_ci-1^{commit}")
    again = _session(pytester, repo, *args)
    assert again.ret == 0, again.stdout.str()
    again.stdout.fnmatch_lines(
        [f"already committed as corr_ci-1 ({sha[:10]}) on ai/generated/wf/t1*"]
    )
    assert git(repo, "rev-parse", "ai/generated/wf/t1") == sha
    (pytester.path / "trades.csv").write_text("t,side\n1,sell\n")
    changed = _session(pytester, repo, *args)
    assert changed.ret != 0
    changed.stdout.fnmatch_lines(["*its files differ: trades.csv (changed)*"])
    (pytester.path / "trades.csv").write_text("t,side\n1,buy\n")
    monkeypatch.setenv("SHARPE", "2.0")
    metric = _session(pytester, repo, *args)
    assert metric.ret != 0
    metric.stdout.fnmatch_lines(["*its metadata differs: test_metrics.sharpe (changed)*"])
    assert git(repo, "rev-parse", "ai/generated/wf/t1") == sha


def test_files_from_the_command_line_add_to_the_configured_ones(
    pytester_git: None, pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    (pytester.path / "strategy.py").write_text("x = 1\n")
    (pytester.path / "trades.csv").write_text("t\n1\n")
    extra = pytester.path / "extra"
    extra.mkdir()
    (extra / "notes.txt").write_text("why\n")
    pytester.makeini("[pytest]\nartifact_store_files =\n    strategy.py\n    trades.csv\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = _session(
        pytester, repo, "--artifact-correlation-id=a1", "--artifact-files=extra/notes.txt"
    )
    assert result.ret == 0, result.stdout.str()
    names = git(repo, "ls-tree", "--name-only", "corr_a1:Backtest/codes/t1").split()
    assert {"strategy.py", "trades.csv", "notes.txt", "test_report.json"} <= set(names)
    # -o replaces the configured list when that is what is wanted
    only = _session(
        pytester,
        repo,
        "--artifact-correlation-id=a2",
        "-o",
        "artifact_store_files=",
        "--artifact-files=extra/notes.txt",
    )
    assert only.ret == 0, only.stdout.str()
    names = git(repo, "ls-tree", "--name-only", "corr_a2:Backtest/codes/t1").split()
    assert "strategy.py" not in names and "notes.txt" in names


def test_agent_and_llm_versions_come_from_settings_and_duration_is_recorded(
    pytester_git: None, pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    import json

    pytester.makeini("[pytest]\nartifact_store_agent_version = coder-v1.0\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = _session(
        pytester, repo, "--artifact-correlation-id=v1", "--artifact-llm-version=gpt-4"
    )
    assert result.ret == 0, result.stdout.str()
    meta = json.loads(git(repo, "show", "corr_v1:Backtest/codes/t1/metadata.json"))
    assert (meta["agent_version"], meta["llm_version"]) == ("coder-v1.0", "gpt-4")
    assert isinstance(meta["test_metrics"]["duration_seconds"], float)
    body = git(repo, "log", "-1", "--format=%B", "corr_v1")
    assert "Agent-Version: coder-v1.0" in body and "LLM-Version: gpt-4" in body


def test_removing_the_plugin_keeps_tests_that_use_its_fixtures_running(
    pytester_git: None, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(
        """
        def test_uses_both(artifact_store, artifact_baseline, tmp_path):
            assert artifact_baseline is None
            artifact_store.record_metric("sharpe", 1.0)
            (tmp_path / "a.csv").write_text("a")
            artifact_store.add(tmp_path / "a.csv")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:artifact_store")
    result.assert_outcomes(passed=1)
    assert "-- artifact-store --" not in result.stdout.str()  # no summary: nothing committed


def test_no_remote_is_said_once_then_quietly(
    pytester_git: None, pytester: pytest.Pytester, repo: Path
) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    base = ("--artifact-store", f"--artifact-repo={repo}", "--artifact-workflow-id=wf")
    first = pytester.runpytest_subprocess(
        *base, "--artifact-task-id=t1", "--artifact-correlation-id=n1"
    )
    assert first.ret == 0, first.stdout.str()
    first.stdout.fnmatch_lines(
        ["push: not pushed (no remote named 'origin'; add it with*(said once*"]
    )
    second = pytester.runpytest_subprocess(
        *base, "--artifact-task-id=t1", "--artifact-correlation-id=n2"
    )
    second.stdout.fnmatch_lines(["push: local only (no remote 'origin')"])
    assert "git remote add" not in second.stdout.str()


def test_push_on_a_terminal_says_what_it_pushes_where(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path]
) -> None:
    import pty

    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    store.commit_artifacts("wf", "t1", list(artifacts.values()), None, "c1")
    store.close()
    master, slave = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_artifact_store.cli", "--repo", str(repo), "push"],
        stderr=slave,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    os.close(slave)
    said = os.read(master, 65536).decode()
    os.close(master)
    assert proc.returncode == 0, said
    assert f"artifact-store: pushing ai/generated/wf/t1 to 'origin' ({bare_remote})" in said
    assert "s left)" in said
    # not on a terminal (CI logs): nothing extra
    quiet = _cli("--repo", str(repo), "push")
    assert quiet.returncode == 0 and "pushing" not in quiet.stderr


def test_a_first_push_names_the_branch_to_push_first(
    tmp_path: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    repo = tmp_path / "legacy"
    git(tmp_path, "init", "-q", "-b", "master", str(repo))
    (repo / "README.md").write_text("x\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
        store.commit_artifacts("wf", "t1", list(artifacts.values()), None, "c1")
    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "origin.git"))
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    res = _cli("--repo", str(repo), "push")
    assert res.returncode == 1 and "'git push origin master'" in res.stderr


def test_revert_further_back_from_the_command_line(repo: Path, tmp_path: Path) -> None:
    src = tmp_path / "s.py"
    with ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False)) as store:
        for i in range(12):
            src.write_text(f"v = {i}\n")
            store.commit_artifacts("wf", "t1", [src], None, f"c{i}")
    refused = _cli("--repo", str(repo), "revert", "c0")
    assert refused.returncode == 1 and "--max-rollback-depth N" in refused.stderr
    done = _cli("--repo", str(repo), "revert", "c0", "--max-rollback-depth", "20")
    assert done.returncode == 0 and "reverted main to corr_c0" in done.stdout


def test_a_refused_repeat_names_files_and_metrics_alike(repo: Path, tmp_path: Path) -> None:
    src = tmp_path / "trades.csv"
    src.write_text("a\n")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    store.commit_artifacts("wf", "t1", [src], {"test_metrics": {"sharpe": 1}}, "c1")
    src.write_text("b\n")
    with pytest.raises(ArtifactStoreError) as caught:
        store.commit_artifacts("wf", "t1", [src], {"test_metrics": {"sharpe": 2}}, "c1")
    text = str(caught.value)
    assert "its files differ: trades.csv (changed); its metadata differs: " in text
    assert "test_metrics.sharpe (changed)" in text


def test_the_ini_keys_stay_known_without_the_plugin(
    pytester_git: None, pytester: pytest.Pytester
) -> None:
    pytester.makeini("[pytest]\nartifact_store_fail_on = sharpe:-10%\nartifact_store_task_id = t\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:artifact_store", "--strict-config", "-W", "error"
    )
    result.assert_outcomes(passed=1)
    assert _cli("--version").stdout.startswith("artifact-store ")
