"""`pytest --artifact-store` end to end: pytester sessions committing into real repositories.

Results are checked with the git CLI (branches, trees, tags, blobs), exit codes and the
terminal summary, never only through the plugin's own code.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import GitRunner

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.usefixtures("pytester_git")

BRANCH = "ai/generated/wf_test/task_001"
TASK_DIR = "Backtest/codes/task_001"

PASSING = """
    import pytest

    def test_backtest(artifact_store, tmp_path):
        trades = tmp_path / "trades.csv"
        trades.write_text("time,side,qty,price\\n2025-01-02,buy,1,100.5\\n")
        artifact_store.add(trades)
        artifact_store.record_metric("total_trades", 1)
        artifact_store.record_metric("net_pnl", 12.5)
        artifact_store.set_metadata("llm_version", "gpt-4")

    def test_other():
        assert 1 + 1 == 2

    @pytest.mark.skip(reason="not today")
    def test_skipped():
        pass
"""

FAILING = """
    def test_backtest(artifact_store, tmp_path):
        out = tmp_path / "trades.csv"
        out.write_text("a,b\\n")
        artifact_store.add(out)

    def test_broken():
        assert 1 == 2
"""


def write_ini(pytester: pytest.Pytester, repo: Path | None, **extra: str | None) -> Path:
    """pytest.ini with the plugin's usual settings (auto_push off: no remote)."""
    values: dict[str, str | None] = {
        "artifact_store_workflow_id": "wf_test",
        "artifact_store_task_id": "task_001",
        "artifact_store_auto_push": "false",
    }
    if repo is not None:
        values["artifact_store_repo"] = str(repo)
    values.update(extra)
    lines = ["[pytest]"] + [f"{k} = {v}" for k, v in values.items() if v is not None]
    return pytester.makefile(".ini", pytest="\n".join(lines) + "\n")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--artifact-store", "--artifact-correlation-id=c1", *args)


def tree(git: GitRunner, repo: Path, ref: str = BRANCH) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", ref).splitlines()


def show_json(git: GitRunner, repo: Path, name: str, ref: str = BRANCH) -> Any:
    return json.loads(git(repo, "show", f"{ref}:{TASK_DIR}/{name}"))


def branches(git: GitRunner, repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/").splitlines()


# -- a passing session ------------------------------------------------------------------


def test_passing_session_commits_files_report_and_metrics(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo, artifact_store_files="\n    strategy.py\n    data/*.csv")
    pytester.makepyfile(strategy="def signal(rsi):\n    return rsi < 30\n")
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "prices.csv").write_text("date,close\n2025-01-02,100\n")
    pytester.makepyfile(test_bt=PASSING)
    head_before = git(repo, "rev-parse", "HEAD")

    result = run(pytester, "--artifact-prompt-hash=7A8B9C0D")

    assert result.ret == 0
    result.assert_outcomes(passed=2, skipped=1)
    assert sorted(tree(git, repo)) == sorted(
        ["README.md", "src/app.py"]
        + [
            f"{TASK_DIR}/{n}"
            for n in (
                "metadata.json",
                "prices.csv",
                "strategy.py",
                "test_report.json",
                "trades.csv",
            )
        ]
    )
    report = show_json(git, repo, "test_report.json")
    assert (report["passed"], report["failed"], report["skipped"], report["error"]) == (2, 0, 1, 0)
    assert report["status"] == "passed"
    assert report["pytest_version"] == pytest.__version__
    assert report["python_version"].count(".") == 2
    assert report["duration"] >= 0
    outcomes = {t["nodeid"]: t["outcome"] for t in report["tests"]}
    assert outcomes == {
        "test_bt.py::test_backtest": "passed",
        "test_bt.py::test_other": "passed",
        "test_bt.py::test_skipped": "skipped",
    }
    meta = show_json(git, repo, "metadata.json")
    duration = meta["test_metrics"].pop("duration_seconds")  # the seed's metric: wall time
    assert isinstance(duration, float) and 0 <= duration < 600
    assert meta["test_metrics"] == {"total_trades": 1, "net_pnl": 12.5}
    assert meta["test_status"] == "passed"
    assert meta["llm_version"] == "gpt-4"
    assert meta["correlation_id"] == "corr_c1"
    assert meta["prompt_hash"] == "7a8b9c0d"
    assert git(repo, "tag", "--points-at", BRANCH).split() == ["corr_c1", "prompt_7a8b9c0d"]
    sha = git(repo, "rev-parse", BRANCH)
    result.stdout.fnmatch_lines(
        [
            "*- artifact-store -*",
            f"committed 5 files to {BRANCH} at {sha[:10]} (corr_c1, prompt_7a8b9c0d)",
            "push: not pushed (auto_push is off)",
        ]
    )
    # The user's branch, work tree and project directory are untouched.
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert git(repo, "status", "--porcelain") == ""
    assert not list(pytester.path.rglob("test_report.json"))


def test_fixture_files_keep_the_given_name(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    pytester.makepyfile(
        """
        def test_it(artifact_store, tmp_path):
            (tmp_path / "out.log").write_text("done\\n")
            assert artifact_store.add(tmp_path / "out.log", name="events.log") == "events.log"
        """
    )
    assert run(pytester).ret == 0
    assert git(repo, "show", f"{BRANCH}:{TASK_DIR}/events.log") == "done"


# -- sessions that commit nothing --------------------------------------------------------


def test_failing_session_commits_nothing(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    pytester.makepyfile(FAILING)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["nothing committed: tests failed (1 passed, 1 failed)"])
    assert branches(git, repo) == ["refs/heads/main"]


def test_failing_session_is_committed_when_require_test_passed_is_off(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("setup")

        def test_pass(artifact_store, tmp_path):
            (tmp_path / "trades.csv").write_text("a\\n")
            artifact_store.add(tmp_path / "trades.csv")
        def test_fail(): assert False
        def test_error(broken): pass
        @pytest.mark.skip
        def test_skip(): pass
        @pytest.mark.xfail
        def test_xfail(): assert False
        @pytest.mark.xfail(strict=False)
        def test_xpass(): pass
        """
    )
    result = run(pytester, "--artifact-no-require-test-passed")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the tests' verdict stands
    result.stdout.fnmatch_lines([f"committed 3 files to {BRANCH} at *"])
    report = show_json(git, repo, "test_report.json")
    counts = {k: report[k] for k in ("passed", "failed", "skipped", "error", "xfailed", "xpassed")}
    assert counts == dict(passed=1, failed=1, skipped=1, error=1, xfailed=1, xpassed=1)
    assert report["status"] == "failed"
    assert show_json(git, repo, "metadata.json")["test_status"] == "failed"


def test_empty_session_commits_nothing(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["nothing committed: no tests ran"])
    assert branches(git, repo) == ["refs/heads/main"]


def test_all_skipped_session_commits_nothing(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    pytester.makepyfile("import pytest\n\n@pytest.mark.skip\ndef test_a(): pass\n")
    result = run(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["nothing committed: no tests ran (1 skipped)"])
    assert branches(git, repo) == ["refs/heads/main"]


def test_interrupted_session_commits_nothing(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    pytester.makepyfile("def test_a(): pass\ndef test_b(): raise KeyboardInterrupt\n")
    # A subprocess: an inline KeyboardInterrupt would also stop an xdist worker running us.
    result = pytester.runpytest_subprocess("--artifact-store", "--artifact-correlation-id=c1")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["nothing committed: the session was interrupted"])
    assert branches(git, repo) == ["refs/heads/main"]


# -- refusals: one line, non-zero exit, no traceback -------------------------------------


def test_secret_is_refused_cleanly(pytester: pytest.Pytester, repo: Path, git: GitRunner) -> None:
    secret = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    write_ini(pytester, repo)
    pytester.makepyfile(
        f"""
        def test_it(artifact_store, tmp_path):
            (tmp_path / "strategy.py").write_text('STRIPE_KEY = "{secret}"\\n')
            artifact_store.add(tmp_path / "strategy.py")
        """
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["commit refused: *secret*strategy.py:1*"])
    output = result.stdout.str() + result.stderr.str()
    assert secret not in output
    assert secret[8:20] not in output
    assert "Traceback" not in output
    assert [ln for ln in result.stdout.lines if ln.startswith("commit refused")].__len__() == 1
    assert branches(git, repo) == ["refs/heads/main"]
    assert git(repo, "tag") == ""


def test_missing_fixture_file_is_refused(pytester: pytest.Pytester, repo: Path) -> None:
    write_ini(pytester, repo)
    pytester.makepyfile(
        """
        def test_it(artifact_store, tmp_path):
            path = tmp_path / "gone.csv"
            path.write_text("x\\n")
            artifact_store.add(path)
            path.unlink()
        """
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["commit refused: *gone.csv*no longer exists*"])


def test_missing_ini_file_is_refused(pytester: pytest.Pytester, repo: Path) -> None:
    write_ini(pytester, repo, artifact_store_files="strategy.py")
    pytester.makepyfile("def test_a(): pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["commit refused: strategy.py (in artifact_store_files from pytest.ini) does not exist*"]
    )


def test_glob_matching_nothing_is_only_noted(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo, artifact_store_files="out/*.csv")
    pytester.makepyfile("def test_a(): pass\n")
    result = run(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["note: out/*.csv matched no files", "committed 2 files *"])


def test_same_name_twice_is_refused(pytester: pytest.Pytester, repo: Path) -> None:
    write_ini(pytester, repo, artifact_store_files="a/*.csv\n    b/*.csv")
    for sub in ("a", "b"):
        (pytester.path / sub).mkdir()
        (pytester.path / sub / "x.csv").write_text(f"{sub}\n")
    pytester.makepyfile("def test_a(): pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["commit refused: two files would both be committed as 'x.csv'*"])


# -- settings: precedence and early usage errors ------------------------------------------


@pytest.mark.parametrize(
    ("env", "cli", "expected"),
    [
        (None, None, "from_ini"),
        ("from_env", None, "from_env"),
        ("from_env", "from_cli", "from_cli"),
        (None, "from_cli", "from_cli"),
    ],
)
def test_precedence_command_line_then_environment_then_ini(
    pytester: pytest.Pytester,
    repo: Path,
    git: GitRunner,
    monkeypatch: pytest.MonkeyPatch,
    env: str | None,
    cli: str | None,
    expected: str,
) -> None:
    write_ini(pytester, repo, artifact_store_task_id="from_ini")
    pytester.makepyfile("def test_a(): pass\n")
    if env:
        monkeypatch.setenv("ARTIFACT_STORE_TASK_ID", env)
    args = [f"--artifact-task-id={cli}"] if cli else []
    assert run(pytester, *args).ret == 0
    assert branches(git, repo) == [
        f"refs/heads/ai/generated/wf_test/{expected}",
        "refs/heads/main",
    ]


def test_every_setting_from_the_environment(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, None, artifact_store_workflow_id=None, artifact_store_task_id=None)
    pytester.makepyfile("def test_a(): pass\n")
    (pytester.path / "notes.txt").write_text("hello\n")
    for name, value in {
        "REPO": str(repo),
        "WORKFLOW_ID": "wf_env",
        "TASK_ID": "t_env",
        "CORRELATION_ID": "corr_env1",
        "PROMPT_HASH": "abcdef",
        "FILES": "notes.txt",
        "ROOT": "out/runs",
        "BRANCH_PREFIX": "bots",
        "AUTHOR_NAME": "CI Bot",
        "AUTHOR_EMAIL": "ci@example.org",
        "AUTO_PUSH": "no",
        "SCAN_SECRETS": "on",
    }.items():
        monkeypatch.setenv(f"ARTIFACT_STORE_{name}", value)
    result = pytester.runpytest("--artifact-store")
    assert result.ret == 0, result.stdout.str()
    assert tree(git, repo, "bots/wf_env/t_env") == [
        "README.md",
        "out/runs/t_env/metadata.json",
        "out/runs/t_env/notes.txt",
        "out/runs/t_env/test_report.json",
        "src/app.py",
    ]
    assert git(repo, "log", "-1", "--format=%an <%ae>", "corr_env1") == "CI Bot <ci@example.org>"
    tagged = git(repo, "rev-parse", "prompt_abcdef^{commit}", "corr_env1^{commit}").split()
    assert tagged[0] == tagged[1]


@pytest.mark.parametrize(
    ("ini", "env", "args", "message"),
    [
        (
            {"artifact_store_workflow_id": None},
            {},
            [],
            "artifact-store: missing workflow_id: set artifact_store_workflow_id in pytest.ini,"
            " ARTIFACT_STORE_WORKFLOW_ID in the environment, or pass --artifact-workflow-id",
        ),
        (
            {"artifact_store_task_id": "a b"},
            {},
            [],
            "artifact-store: invalid artifact_store_task_id 'a b' from pytest.ini: "
            "it contains ' '*",
        ),
        (
            {},
            {"ARTIFACT_STORE_TASK_ID": "../x"},
            [],
            "artifact-store: invalid ARTIFACT_STORE_TASK_ID '../x' from the environment: *",
        ),
        (
            {},
            {},
            ["--artifact-workflow-id=wf.lock"],
            "artifact-store: invalid --artifact-workflow-id 'wf.lock' from the command line: "
            "it ends with '.lock'*",
        ),
        (
            {},
            {},
            ["--artifact-prompt-hash=xyz"],
            "artifact-store: invalid --artifact-prompt-hash 'xyz' from the command line: "
            "use 6-64 hexadecimal characters",
        ),
        (
            {},
            {"ARTIFACT_STORE_CORRELATION_ID": "has space"},
            [],
            "artifact-store: invalid ARTIFACT_STORE_CORRELATION_ID 'has space' from the "
            "environment: *",
        ),
        (
            {"artifact_store_auto_push": "maybe"},
            {},
            [],
            "artifact-store: invalid artifact_store_auto_push from pytest.ini: *maybe*",
        ),
        (
            {},
            {"ARTIFACT_STORE_SCAN_SECRETS": "sometimes"},
            [],
            "artifact-store: invalid ARTIFACT_STORE_SCAN_SECRETS 'sometimes' from the "
            "environment: use true/false*",
        ),
        (
            {"artifact_store_push_timeout": "-3"},
            {},
            [],
            "artifact-store: invalid artifact_store_push_timeout '-3' from pytest.ini: "
            "use a positive number of seconds",
        ),
        (
            {"artifact_store_branch_prefix": "ai//gen"},
            {},
            [],
            "artifact-store: invalid artifact_store_branch_prefix 'ai//gen' from pytest.ini: *",
        ),
        (
            {"artifact_store_root": "../outside"},
            {},
            [],
            "artifact-store: invalid artifact_store_root '../outside' from pytest.ini: *",
        ),
        (
            {"artifact_store_author_email": "a<b>"},
            {},
            [],
            "artifact-store: invalid artifact_store_author_email 'a<b>' from pytest.ini: *",
        ),
    ],
)
def test_bad_settings_are_usage_errors_before_any_test_runs(
    pytester: pytest.Pytester,
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    ini: dict[str, str | None],
    env: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    write_ini(pytester, repo, **ini)
    marker = pytester.path / "ran"
    pytester.makepyfile(f"def test_a():\n    open({str(marker)!r}, 'w').close()\n")
    monkeypatch.setenv("ARTIFACT_STORE_CORRELATION_ID", "c1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = pytester.runpytest("--artifact-store", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert not marker.exists()
    assert "Traceback" not in result.stderr.str()


def test_missing_correlation_id_is_a_usage_error(pytester: pytest.Pytester, repo: Path) -> None:
    write_ini(pytester, repo)
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest("--artifact-store")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: artifact-store: missing correlation_id: pass --artifact-correlation-id*"]
    )


def test_correlation_id_can_be_optional(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo, artifact_store_require_correlation_id="false")
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest("--artifact-store")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"committed 2 files to {BRANCH} at * (no tags)"])
    assert git(repo, "log", "-1", "--format=%s", BRANCH) == "artifacts(wf_test/task_001)"


def test_repo_that_is_not_a_git_repository(pytester: pytest.Pytester, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    write_ini(pytester, plain)
    pytester.makepyfile("def test_a(): pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: artifact-store: invalid artifact_store_repo '{plain}' from pytest.ini: *"]
    )


def test_default_repository_must_exist(pytester: pytest.Pytester) -> None:
    write_ini(pytester, None)  # pytester's directory is not inside a git repository
    pytester.makepyfile("def test_a(): pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: artifact-store: invalid artifact_store_repo '{pytester.path}' "
            "(not set: the default): *not a git repository*"
        ]
    )


def test_relative_paths_in_ini_resolve_against_its_directory(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    # repo and globs relative to pytest.ini, although pytest runs in a sub-directory.
    project = pytester.path
    write_ini(
        pytester,
        None,
        artifact_store_repo=str(Path("..") / repo.relative_to(project.parent)),
        artifact_store_files="data/*.csv",
    )
    (project / "data").mkdir()
    (project / "data" / "prices.csv").write_text("p\n")
    sub = project / "tests"
    sub.mkdir()
    (sub / "test_a.py").write_text("def test_a(): pass\n")
    (sub / "extra.txt").write_text("from the command line\n")
    pytester.chdir()
    import os

    os.chdir(sub)
    result = run(pytester, "--artifact-files=extra.txt", "--artifact-files=../data/*.csv")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert f"{TASK_DIR}/extra.txt" in tree(git, repo)
    assert f"{TASK_DIR}/prices.csv" in tree(git, repo)


def test_default_repository_is_the_one_holding_the_rootdir(
    pytester: pytest.Pytester, git: GitRunner
) -> None:
    project = pytester.path
    git(project, "init", "-q", "-b", "main")
    git(project, "commit", "-q", "--allow-empty", "-m", "start")
    write_ini(pytester, None)
    pytester.makepyfile("def test_a(): pass\n")
    assert run(pytester).ret == 0
    assert f"{TASK_DIR}/test_report.json" in tree(git, project)


def test_help_works_with_the_flag(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--artifact-store", "--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*--artifact-no-push*",
            "*artifact_store_files (linelist):*",
        ]
    )


# -- push -----------------------------------------------------------------------------


def test_pushes_to_the_remote(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    write_ini(pytester, repo, artifact_store_auto_push="true")
    pytester.makepyfile("def test_a(): pass\n")
    result = run(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["push: pushed to origin"])
    assert git(remote, "rev-parse", BRANCH) == git(repo, "rev-parse", BRANCH)
    assert git(remote, "tag") == "corr_c1"


# -- hooks ------------------------------------------------------------------------------


def test_hooks_amend_metadata_and_see_the_result(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, tmp_path: Path
) -> None:
    seen = tmp_path / "committed.json"
    write_ini(pytester, repo)
    pytester.makeconftest(
        f"""
        import json

        def pytest_artifact_store_metadata(config, metadata):
            metadata["agent_version"] = "tester-v1.0"
            metadata["test_metrics"]["from_hook"] = 1

        def pytest_artifact_store_committed(config, result):
            with open({str(seen)!r}, "w") as f:
                json.dump(result, f)
        """
    )
    pytester.makepyfile(
        "def test_a(artifact_store):\n    artifact_store.record_metric('sharpe', 1.5)\n"
    )
    assert run(pytester).ret == 0
    meta = show_json(git, repo, "metadata.json")
    assert meta["agent_version"] == "tester-v1.0"
    assert meta["test_metrics"].pop("duration_seconds") >= 0
    assert meta["test_metrics"] == {"sharpe": 1.5, "from_hook": 1}
    result = json.loads(seen.read_text())
    assert result["commit_sha"] == git(repo, "rev-parse", BRANCH)
    assert result["branch"] == BRANCH
    assert result["tags"] == ["corr_c1"]


def test_failing_metadata_hook_refuses_in_one_line(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    pytester.makeconftest(
        "def pytest_artifact_store_metadata(config, metadata):\n"
        "    raise ValueError('no agent version')\n"
    )
    pytester.makepyfile("def test_a(): pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["commit refused: pytest_artifact_store_metadata hook failed: no agent version"]
    )
    assert "Traceback" not in result.stdout.str()
    assert branches(git, repo) == ["refs/heads/main"]


# -- the fixture ------------------------------------------------------------------------


def test_fixture_checks_its_arguments(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import math
        import pytest

        def test_checks(artifact_store, tmp_path):
            with pytest.raises(FileNotFoundError, match="does not exist"):
                artifact_store.add(tmp_path / "missing.csv")
            (tmp_path / "a.csv").write_text("a")
            (tmp_path / "b").mkdir()
            (tmp_path / "b" / "a.csv").write_text("b")
            with pytest.raises(ValueError, match="plain file name"):
                artifact_store.add(tmp_path / "a.csv", name="x/y.csv")
            artifact_store.add(tmp_path / "a.csv")
            with pytest.raises(ValueError, match="already used"):
                artifact_store.add(tmp_path / "b" / "a.csv")
            with pytest.raises(ValueError, match="NaN|nan"):
                artifact_store.record_metric("sharpe", math.nan)
            with pytest.raises(TypeError, match="JSON"):
                artifact_store.set_metadata("when", object())
            with pytest.raises(ValueError, match="record_metric"):
                artifact_store.set_metadata("test_metrics", {})
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_fixture_works_without_the_flag_and_commits_nothing(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    pytester.makepyfile(PASSING)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, skipped=1)
    assert "- artifact-store -" not in result.stdout.str()
    assert branches(git, repo) == ["refs/heads/main"]


def test_disabled_with_p_no(pytester: pytest.Pytester, repo: Path) -> None:
    write_ini(pytester, repo)
    pytester.makepyfile("def test_a(artifact_store): pass\n")
    result = pytester.runpytest("-p", "no:artifact_store", "--artifact-store")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --artifact-store*"])
    result = pytester.runpytest("-p", "no:artifact_store")
    result.assert_outcomes(passed=1)  # the fixtures are a plugin of their own: still there
    result = pytester.runpytest("-p", "no:artifact_store", "-p", "no:artifact_store_fixtures")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'artifact_store' not found*"])


INERT_CONFTEST = """
    import sys

    def pytest_sessionfinish(session):
        heavy = ("git", "pytest_artifact_store.store", "pytest_artifact_store.git",
                 "pytest_artifact_store.pytest_plugin.session")
        print("\\nHEAVY-MODULES:", [m for m in heavy if m in sys.modules])
        print("PLUGIN:", session.config.pluginmanager.hasplugin("artifact_store"),
              session.config.pluginmanager.hasplugin("artifact_store_session"))
"""


def test_plugin_is_inert_without_the_flag(pytester: pytest.Pytester, repo: Path) -> None:
    write_ini(pytester, repo)
    pytester.makeconftest(INERT_CONFTEST)
    pytester.makepyfile(PASSING)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["HEAVY-MODULES: []", "PLUGIN: True False"])


def test_plugin_loads_git_only_when_enabled(pytester: pytest.Pytester, repo: Path) -> None:
    write_ini(pytester, repo)
    pytester.makeconftest(INERT_CONFTEST)
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest_subprocess("-s", "--artifact-store", "--artifact-correlation-id=c1")
    result.stdout.fnmatch_lines(
        [
            # GitPython is never imported: the store speaks git plumbing itself, in its
            # worker process (pytest's own process reads only the store's config)
            "HEAVY-MODULES: ['pytest_artifact_store.store', "
            "'pytest_artifact_store.pytest_plugin.session']",
            "PLUGIN: True True",
        ]
    )


# -- pytest-xdist -----------------------------------------------------------------------


def test_xdist_workers_send_files_and_metrics_to_one_commit(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    pytest.importorskip("xdist")
    write_ini(pytester, repo)
    pytester.makepyfile(
        textwrap.dedent(
            """
            import os
            import pytest

            @pytest.fixture(scope="session")
            def shared(artifact_store, tmp_path_factory):
                # Runs once per worker: same name, same content -> one file.
                path = tmp_path_factory.mktemp("shared") / "equity_curve.csv"
                path.write_text("date,equity\\n2025-01-02,10000\\n")
                artifact_store.add(path)
                artifact_store.record_metric("initial_equity", 10000)

            @pytest.mark.parametrize("i", range(6))
            def test_part(i, artifact_store, tmp_path, shared):
                path = tmp_path / f"part{i}.txt"
                path.write_text(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")
                artifact_store.add(path)
                artifact_store.record_metric(f"part{i}", i)
            """
        )
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--artifact-store", "--artifact-correlation-id=c1"
    )
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=6)
    names = {p.rsplit("/", 1)[1] for p in tree(git, repo) if p.startswith(TASK_DIR)}
    assert names == {f"part{i}.txt" for i in range(6)} | {
        "equity_curve.csv",
        "metadata.json",
        "test_report.json",
    }
    workers = {git(repo, "show", f"{BRANCH}:{TASK_DIR}/part{i}.txt") for i in range(6)}
    assert workers <= {"gw0", "gw1"}
    assert len(workers) == 2  # both workers contributed
    meta = show_json(git, repo, "metadata.json")
    assert meta["test_metrics"].pop("duration_seconds") >= 0
    assert meta["test_metrics"] == {"initial_equity": 10000, **{f"part{i}": i for i in range(6)}}
    assert show_json(git, repo, "test_report.json")["passed"] == 6
    assert git(repo, "rev-list", "--count", BRANCH) == "2"  # one commit on top of main


def test_xdist_conflicting_metrics_are_refused(pytester: pytest.Pytester, repo: Path) -> None:
    pytest.importorskip("xdist")
    write_ini(pytester, repo)
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.parametrize("i", range(4))
        def test_part(i, artifact_store):
            artifact_store.record_metric("worker", os.environ["PYTEST_XDIST_WORKER"])
        """
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--artifact-store", "--artifact-correlation-id=c1"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["commit refused: metric 'worker' was recorded as *"])
