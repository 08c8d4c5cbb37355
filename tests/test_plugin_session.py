"""A version is exactly what one whole session produced and proved.

Real pytester sessions (in-process, or subprocesses where xdist or an isolated plugin
needs one) commit into real repositories; what landed is read back with the git CLI.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import GitRunner

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.usefixtures("pytester_git")

BRANCH = "ai/generated/wf_test/task_001"
TASK_DIR = "Backtest/codes/task_001"

SUITE = """
    import pytest

    def test_sma(artifact_store, tmp_path):
        out = tmp_path / "equity_curve.csv"
        out.write_text("date,equity\\n2025-01-02,10000\\n")
        artifact_store.add(out)

    def test_rsi():
        pass

    def test_macd():
        pass
"""


def write_ini(pytester: pytest.Pytester, repo: Path, *extra: str) -> None:
    lines = [
        "[pytest]",
        "testpaths = tests",
        "artifact_store_workflow_id = wf_test",
        "artifact_store_task_id = task_001",
        "artifact_store_auto_push = false",
        f"artifact_store_repo = {repo}",
        *extra,
    ]
    pytester.makefile(".ini", pytest="\n".join(lines) + "\n")


def suite(pytester: pytest.Pytester, source: str = SUITE) -> Path:
    tests = pytester.mkpydir("tests")
    path = tests / "test_suite.py"
    path.write_text(__import__("textwrap").dedent(source))
    return path


def run(pytester: pytest.Pytester, *args: str, corr: str = "c1") -> pytest.RunResult:
    return pytester.runpytest("--artifact-store", f"--artifact-correlation-id={corr}", *args)


def tip(git: GitRunner, repo: Path) -> str:
    return git(repo, "rev-parse", "--verify", "--quiet", BRANCH, check=False)


def show_json(git: GitRunner, repo: Path, name: str) -> Any:
    return json.loads(git(repo, "show", f"{BRANCH}:{TASK_DIR}/{name}"))


def age(path: Path, seconds: float) -> None:
    """Make ``path`` look written ``seconds`` ago (negative: in the future)."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def names(git: GitRunner, repo: Path) -> set[str]:
    listed = git(repo, "ls-tree", "-r", "--name-only", BRANCH, "--", TASK_DIR).splitlines()
    return {p.rsplit("/", 1)[1] for p in listed}


# -- whole sessions only -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["-k", "sma"], "2 tests deselected by -k 'sma'"),
        (["-m", "not slow"], "*"),
        (["--deselect", "tests/test_suite.py::test_rsi"], "1 test deselected"),
        (["tests/test_suite.py::test_sma"], "the arguments tests/test_suite.py::test_sma narrow*"),
        (["tests/test_suite.py"], "the arguments tests/test_suite.py narrow the suite"),
    ],
)
def test_a_partial_session_is_not_committed(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, args: list[str], why: str
) -> None:
    write_ini(pytester, repo, "markers =\n    slow: slow")
    suite(pytester, SUITE.replace("def test_macd", "@pytest.mark.slow\n    def test_macd"))
    result = run(pytester, *args)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [f"nothing committed: this session ran part of the suite ({why}*--artifact-allow-partial*"]
    )
    assert tip(git, repo) == ""


def test_the_configured_testpaths_given_as_arguments_are_the_whole_suite(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    suite(pytester)
    result = run(pytester, "tests")
    assert result.ret == 0, result.stdout.str()
    report = show_json(git, repo, "test_report.json")
    assert report["partial"] is False
    assert report["passed"] == 3
    assert "tests" in report["selection"]["args"]
    assert show_json(git, repo, "metadata.json")["partial"] is False


def test_allow_partial_commits_a_version_marked_partial_with_its_selection(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    suite(pytester)
    result = run(pytester, "-k", "sma or rsi", "--artifact-allow-partial")
    assert result.ret == 0, result.stdout.str()
    report = show_json(git, repo, "test_report.json")
    meta = show_json(git, repo, "metadata.json")
    assert report["partial"] is True and meta["partial"] is True
    for selection in (report["selection"], meta["selection"]):
        assert selection["keyword"] == "sma or rsi"
        assert selection["selected"] == 2
        assert selection["deselected"] == 1
        assert selection["narrowed_by"] == ["1 test deselected by -k 'sma or rsi'"]
    listed = pytester.run(
        sys.executable, "-m", "pytest_artifact_store.cli", "--repo", str(repo), "list"
    )
    listed.stdout.fnmatch_lines(["*corr_c1*partial*"])


def test_allow_partial_from_the_environment(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    suite(pytester)
    monkeypatch.setenv("ARTIFACT_STORE_ALLOW_PARTIAL", "1")
    assert run(pytester, "-k", "sma").ret == 0
    assert show_json(git, repo, "metadata.json")["partial"] is True


def test_last_failed_rerun_is_not_committed_as_the_suite(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    suite(
        pytester,
        SUITE
        + "\n    def test_flaky():\n        import os\n        assert os.environ.get('FIXED')\n",
    )
    assert run(pytester).ret == 1  # one failure: nothing committed, recorded by --lf's cache
    monkeypatch.setenv("FIXED", "1")
    result = run(pytester, "--lf", corr="c2")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*nothing committed*--lf ran only the tests that failed last time*"]
    )
    assert tip(git, repo) == ""
    assert run(pytester, corr="c3").ret == 0  # the whole suite, fixed
    assert tip(git, repo) != ""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["main", "xdist"])
def test_last_failed_with_only_stale_failures_runs_and_commits_the_whole_suite(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, xdist: list[str]
) -> None:
    # the recorded failure names a test that was renamed since: --lf finds none of its
    # failures among the collected tests and runs them all, so the session is whole
    write_ini(pytester, repo)
    path = suite(pytester, SUITE + "\n    def test_flaky():\n        assert 0\n")
    assert run(pytester).ret == 1
    source = path.read_text().replace("assert 0", "pass")
    path.write_text(source.replace("def test_flaky", "def test_renamed"))
    result = pytester.runpytest_subprocess(
        *xdist, "--artifact-store", "--artifact-correlation-id=c2", "--lf"
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*4 passed*", "committed *"])
    report = show_json(git, repo, "test_report.json")
    assert (report["partial"], report["passed"]) == (False, 4)
    assert report["selection"]["last_failed"] is False


def test_last_failed_under_xdist_is_not_committed_as_the_suite(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    flaky = "\n    def test_flaky():\n        import os\n        assert os.environ.get('FIXED')\n"
    suite(pytester, SUITE + flaky)
    assert run(pytester).ret == 1
    monkeypatch.setenv("FIXED", "1")
    result = pytester.runpytest_subprocess(
        "-n", "2", "--artifact-store", "--artifact-correlation-id=c2", "--lf"
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*nothing committed*--lf ran only the tests that failed*"])
    assert tip(git, repo) == ""


def test_xdist_deselection_is_seen_by_the_controller(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    suite(pytester)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--artifact-store", "--artifact-correlation-id=c1", "-k", "not macd"
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*nothing committed*1 test deselected by -k 'not macd'*"])
    assert tip(git, repo) == ""


# -- outputs come from this session ------------------------------------------------------


def test_an_output_left_by_an_earlier_run_is_refused_naming_it(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo, "artifact_store_outputs =\n    out/*.csv")
    out = pytester.path / "out"
    out.mkdir()
    (out / "trades.csv").write_text("old\n")
    age(out / "trades.csv", 3600)
    suite(
        pytester,
        """
        from pathlib import Path

        def test_backtest():
            Path("out/equity_curve.csv").write_text("date,equity\\n")
        """,
    )
    result = run(pytester)
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "commit refused: */out/trades.csv was last written at *, before this session "
            "started (*): it is left from an earlier run (out/*.csv (in artifact_store_outputs "
            "from pytest.ini))"
        ]
    )
    assert tip(git, repo) == ""
    (out / "trades.csv").unlink()
    assert run(pytester).ret == 0
    assert names(git, repo) == {"equity_curve.csv", "metadata.json", "test_report.json"}


def test_an_output_with_a_modification_time_in_the_future_is_refused(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    # left by an earlier run on a machine whose clock was ahead: "newer than the session
    # start" must not pass it as this session's output
    write_ini(pytester, repo, "artifact_store_outputs =\n    out/*.csv")
    out = pytester.path / "out"
    out.mkdir()
    (out / "trades.csv").write_text("old\n")
    age(out / "trades.csv", -86400)
    suite(pytester, "def test_backtest():\n    pass\n")
    result = run(pytester)
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["commit refused: */out/trades.csv was last written at *, later than now (*): its "
         "time cannot show that this session wrote it*(out/*.csv (in "
         "artifact_store_outputs from pytest.ini))"]
    )  # fmt: skip
    assert tip(git, repo) == ""


def test_an_output_glob_that_matches_nothing_is_refused(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo, "artifact_store_outputs = results/trades.csv")
    suite(pytester, "def test_nothing_written():\n    pass\n")
    result = run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["commit refused: results/trades.csv (in artifact_store_outputs from pytest.ini) does "
         "not exist in * (an output the tests must write during the session)"]
    )  # fmt: skip
    assert tip(git, repo) == ""


def test_a_stale_file_handed_to_the_fixture_is_refused(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    stale = pytester.path / "trades.csv"
    stale.write_text("time,side\n")
    age(stale, 60)
    suite(
        pytester,
        f"""
        def test_backtest(artifact_store):
            artifact_store.add({str(stale)!r})
        """,
    )
    result = run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["commit refused: *trades.csv was last written at *: files added with "
         "artifact_store.add() are outputs of this session; list inputs in "
         "artifact_store_files instead"]
    )  # fmt: skip


def test_inputs_are_recorded_as_they_are(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo, "artifact_store_files = strategy.py")
    strategy = pytester.path / "strategy.py"
    strategy.write_text("def signal(): return 1\n")
    age(strategy, 3600)
    suite(pytester)
    assert run(pytester).ret == 0
    assert "strategy.py" in names(git, repo)


# -- after the other plugins have written ---------------------------------------------------


def test_junitxml_and_html_reports_of_this_very_session_are_committed(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo, "artifact_store_outputs =\n    report.html\n    junit.xml")
    suite(pytester)
    result = run(pytester, "--html=report.html", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    first = git(repo, "show", f"{BRANCH}:{TASK_DIR}/junit.xml")
    assert 'tests="3"' in first
    assert first == (pytester.path / "junit.xml").read_text().strip()
    html = git(repo, "show", f"{BRANCH}:{TASK_DIR}/report.html")
    assert "test_suite.py::test_sma" in html
    assert html == (pytester.path / "report.html").read_text().strip()
    result = run(pytester, "--html=report.html", "--junitxml=junit.xml",
                 corr="c2")  # fmt: skip
    assert result.ret == 0
    second = git(repo, "show", f"{BRANCH}:{TASK_DIR}/junit.xml")
    assert second == (pytester.path / "junit.xml").read_text().strip()
    assert second != first  # its own timestamp, not the previous run's file
    result.stdout.fnmatch_lines(["*generated xml file*", "*- artifact-store -*", "committed *"])


def test_files_in_tmp_path_survive_retention(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo, "tmp_path_retention_policy = none")
    suite(pytester)
    assert run(pytester).ret == 0
    assert "equity_curve.csv" in names(git, repo)


# -- a report that says what happened -------------------------------------------------------


def test_without_the_terminal_plugin_the_outcome_goes_to_stderr(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo, "artifact_store_outputs = missing.csv")
    suite(pytester)
    result = pytester.runpytest_subprocess(
        "-p", "no:terminal", "--artifact-store", "--artifact-correlation-id=c1"
    )
    assert result.ret == 1
    result.stderr.fnmatch_lines(["artifact-store: commit refused: missing.csv *does not exist*"])
    assert tip(git, repo) == ""


def test_reruns_warnings_and_plugins_are_recorded(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    write_ini(pytester, repo)
    counter = pytester.path / "attempts"
    suite(
        pytester,
        f"""
        import warnings
        from pathlib import Path

        import pytest

        def test_flaky():
            attempts = Path({str(counter)!r})
            n = int(attempts.read_text()) if attempts.exists() else 0
            attempts.write_text(str(n + 1))
            assert n >= 1

        def test_warns():
            warnings.warn("careful", UserWarning)

        @pytest.mark.xfail(reason="known")
        def test_known():
            assert 0
        """,
    )
    result = run(pytester, "--reruns=2")
    assert result.ret == 0, result.stdout.str()
    report = show_json(git, repo, "test_report.json")
    by_id = {t["nodeid"]: t for t in report["tests"]}
    assert by_id["tests/test_suite.py::test_flaky"]["reruns"] == 1
    assert by_id["tests/test_suite.py::test_flaky"]["outcome"] == "passed"
    assert "reruns" not in by_id["tests/test_suite.py::test_warns"]
    assert (report["flaky"], report["reruns"], report["xfailed"]) == (1, 1, 1)
    assert report["warnings"] >= 1
    assert "pytest-rerunfailures" in report["plugins"]
    assert report["python_implementation"] == "CPython"
    assert "--reruns=2" in report["selection"]["args"]


def test_pytest_randomly_seed_is_recorded(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest-randomly reorders every session it is installed in: `make` installs it
    # apart from the venv, and only this session sees it
    isolated = Path(sys.prefix) / "isolated-plugins"
    if not (isolated / "pytest_randomly").is_dir():
        pytest.skip(f"pytest-randomly is installed in {isolated} by `make` (not found)")
    write_ini(pytester, repo)
    suite(pytester)
    monkeypatch.setenv("PYTHONPATH", str(isolated))
    result = pytester.runpytest_subprocess(
        "--artifact-store", "--artifact-correlation-id=c1", "--randomly-seed=1234"
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["Using --randomly-seed=1234"])
    assert show_json(git, repo, "test_report.json")["random_seed"] == 1234
