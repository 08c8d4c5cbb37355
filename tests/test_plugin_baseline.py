"""The ``artifact_baseline`` fixture and the ``--artifact-fail-on`` gate, end to end.

Real pytester sessions commit into real repositories; what landed (or did not) is read
back with the git CLI, and the terminal summary is checked line by line.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import GitRunner

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.usefixtures("pytester_git")

BRANCH = "ai/generated/wf_test/task_001"
TASK_DIR = "Backtest/codes/task_001"

# A "backtest" whose numbers come from the environment, so a run can be made worse.
BACKTEST = """
    import os

    def test_backtest(artifact_store, tmp_path):
        sharpe = float(os.environ.get("SHARPE", "1.5"))
        equity = tmp_path / "equity_curve.csv"
        final = 10000 + sharpe * 100
        equity.write_text("date,equity\\n2025-01-02,10000\\n2025-01-03,%s\\n" % final)
        trades = tmp_path / "trades.csv"
        trades.write_text("time,side,qty,price\\n2025-01-02,buy,1,100.5\\n")
        artifact_store.add(equity)
        artifact_store.add(trades)
        artifact_store.record_metric("sharpe", sharpe)
        artifact_store.record_metric("max_drawdown_pct", float(os.environ.get("DD", "-10.0")))
        if os.environ.get("NEW_METRIC"):
            artifact_store.record_metric("win_rate", 0.5)
"""


def write_ini(pytester: pytest.Pytester, repo: Path, *extra: str, push: bool = False) -> None:
    lines = [
        "[pytest]",
        "artifact_store_workflow_id = wf_test",
        "artifact_store_task_id = task_001",
        f"artifact_store_auto_push = {str(push).lower()}",
        f"artifact_store_repo = {repo}",
        *extra,
    ]
    pytester.makefile(".ini", pytest="\n".join(lines) + "\n")


def run(pytester: pytest.Pytester, corr: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--artifact-store", f"--artifact-correlation-id={corr}", *args)


def tip(git: GitRunner, repo: Path) -> str:
    return git(repo, "rev-parse", "--verify", "--quiet", BRANCH, check=False)


def metadata(git: GitRunner, repo: Path, ref: str = BRANCH) -> dict[str, object]:
    return json.loads(git(repo, "show", f"{ref}:{TASK_DIR}/metadata.json"))


def first_version(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv("SHARPE", "1.5")
    pytester.makepyfile(test_bt=BACKTEST)
    result = run(pytester, "c1")
    assert result.ret == 0, result.stdout.str()
    return tip(git, repo)


def test_first_run_has_no_baseline_and_the_gate_says_so(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo, "artifact_store_fail_on = sharpe:-10%")
    pytester.makepyfile(
        test_first="""
            def test_baseline(artifact_baseline, artifact_store):
                assert artifact_baseline is None
                artifact_store.record_metric("sharpe", 1.0)
        """
    )
    result = run(pytester, "c1")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*fail-on: no baseline (no earlier version of wf_test/task_001*this is the first)*",
            "committed 2 files to ai/generated/wf_test/task_001*",
        ]
    )
    assert "baseline" not in metadata(git, repo)


def test_fixture_gives_metrics_files_curve_and_trades_of_the_newest_version(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    first = first_version(pytester, repo, git, monkeypatch)
    pytester.makepyfile(
        test_bt=textwrap.dedent(BACKTEST)
        + textwrap.dedent(
            f"""
            def test_compare(artifact_baseline):
                b = artifact_baseline
                assert b.commit_sha == {first!r}
                assert b.correlation_id == "corr_c1"
                assert b.metrics["sharpe"] == 1.5
                assert sorted(b.files) == ["equity_curve.csv", "test_report.json", "trades.csv"]
                assert b.read("trades.csv").startswith(b"time,side,qty,price")
                assert b.csv("trades.csv") == [
                    {{"time": "2025-01-02", "side": "buy", "qty": "1", "price": "100.5"}}
                ]
                assert b.json("test_report.json")["passed"] == 1
                assert b.equity_curve.values == [10000.0, 10150.0]
                assert b.trades[0]["side"] == "buy"
                try:
                    b.metrics["sortino"]
                except KeyError as exc:
                    assert "has no metric 'sortino'" in str(exc)
                    assert "its metrics: duration_seconds, max_drawdown_pct, sharpe" in str(exc)
                else:
                    raise AssertionError("no KeyError")
            """
        )
    )
    result = run(pytester, "c2")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2)
    # the fixture was used: the new version says what it was judged against
    recorded = metadata(git, repo)["baseline"]
    assert isinstance(recorded, dict)
    assert recorded["commit_sha"] == first
    assert recorded["correlation_id"] == "corr_c1"
    assert recorded["deltas"]["sharpe"] == {
        "baseline": 1.5,
        "new": 1.5,
        "delta": 0,
        "rel": 0,
        "verdict": "same",
    }


def test_broken_rule_fails_the_session_commits_nothing_and_shows_the_table(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    first = first_version(pytester, repo, git, monkeypatch)
    monkeypatch.setenv("SHARPE", "1.2")  # -20 %
    result = run(pytester, "c2", "--artifact-fail-on=sharpe:-10%", "--artifact-fail-on=sharpe:-50%")
    assert result.ret == 1, result.stdout.str()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- artifact-store -*",
            "fail-on: judged against corr_c1 (" + first[:10] + ")",
            "  metric  baseline  new   change  rule         verdict",
            "  sharpe       1.5  1.2  -20.00%  sharpe:-10%  FAILED",
            "  sharpe       1.5  1.2  -20.00%  sharpe:-50%  ok",
            "commit refused: fail-on: sharpe: fell 20.00% from 1.5 to 1.2 (rule sharpe:-10%)",
        ]
    )
    assert tip(git, repo) == first
    assert git(repo, "tag", "--list", "corr_c2") == ""


def test_kept_rule_commits_and_records_the_comparison(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(
        pytester, repo, "artifact_store_fail_on =\n    sharpe:-10%\n    max_drawdown_pct:+10%"
    )
    first = first_version(pytester, repo, git, monkeypatch)
    monkeypatch.setenv("SHARPE", "1.45")
    result = run(pytester, "c2")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*sharpe*1.5*1.45*-3.33%*sharpe:-10%*ok*"])
    recorded = metadata(git, repo)["baseline"]
    assert isinstance(recorded, dict)
    assert recorded["commit_sha"] == first
    assert recorded["ref"] == "wf_test/task_001"
    assert [r["rule"] for r in recorded["rules"]] == ["sharpe:-10%", "max_drawdown_pct:+10%"]
    assert all(r["holds"] for r in recorded["rules"])
    assert recorded["deltas"]["sharpe"]["new"] == 1.45
    # `artifact-store show` tells what the version was judged against
    shown = pytester.run(
        sys.executable, "-m", "pytest_artifact_store.cli", "--repo", str(repo), "show", "corr_c2"
    )
    assert shown.ret == 0, shown.stderr.str()
    shown.stdout.fnmatch_lines([f"*baseline*corr_c1*{first[:10]}*"])


def test_worse_negative_drawdown_breaks_a_plus_rule(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    monkeypatch.setenv("DD", "-33.9")
    first = first_version(pytester, repo, git, monkeypatch)
    monkeypatch.setenv("DD", "-56.6")
    result = run(pytester, "c2", "--artifact-fail-on=max_drawdown_pct:+10%")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*max_drawdown_pct*-33.9*-56.6*FAILED*"])
    assert tip(git, repo) == first


def test_a_metric_the_baseline_lacks_is_skipped_with_a_note_one_this_run_lacks_fails(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    first = first_version(pytester, repo, git, monkeypatch)
    monkeypatch.setenv("NEW_METRIC", "1")
    result = run(pytester, "c2", "--artifact-fail-on=win_rate:-5%")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*win_rate*missing*0.5*win_rate:-5%*skipped*",
            "*note: win_rate: the baseline corr_c1 has no numeric metric 'win_rate'; rule "
            "win_rate:-5% is checked from the next version on",
            "committed *",
        ]
    )
    second = tip(git, repo)
    assert second != first
    monkeypatch.delenv("NEW_METRIC")
    result = run(pytester, "c3", "--artifact-fail-on=win_rate:-5%")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["commit refused: fail-on: win_rate: this run recorded no numeric metric 'win_rate'*"]
    )
    assert tip(git, repo) == second


def test_baseline_ref_selects_an_older_version(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    first = first_version(pytester, repo, git, monkeypatch)
    monkeypatch.setenv("SHARPE", "1.0")
    assert run(pytester, "c2").ret == 0
    monkeypatch.setenv("SHARPE", "1.4")
    # against the newest (1.0) this is better; against c1 (1.5) it is 6.7 % worse
    assert pytester.runpytest("--artifact-fail-on=sharpe:-5%").ret == 0
    result = run(pytester, "c3", "--artifact-baseline=c1", "--artifact-fail-on=sharpe:-5%")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines([f"fail-on: judged against corr_c1 ({first[:10]})"])


def test_unknown_baseline_ref_is_a_usage_error_before_any_test(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo, "artifact_store_baseline = corr_nope")
    pytester.makepyfile(test_bt=BACKTEST)
    result = run(pytester, "c1", "--artifact-fail-on=sharpe:-5%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*artifact_store_baseline from pytest.ini: baseline 'corr_nope' names no artifact*"]
    )
    assert tip(git, repo) == ""


def test_bad_rule_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo, "artifact_store_fail_on = sharpe<0.9")
    pytester.makepyfile(test_bt=BACKTEST)
    result = run(pytester, "c1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*invalid artifact_store_fail_on*from pytest.ini*invalid rule 'sharpe<0.9'*"]
    )


def test_compare_only_without_artifact_store_commits_nothing(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    first = first_version(pytester, repo, git, monkeypatch)
    monkeypatch.setenv("SHARPE", "1.0")
    result = pytester.runpytest("--artifact-fail-on=sharpe:-10%")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*sharpe*1.5*1*-33.33%*sharpe:-10%*FAILED*",
            "regression: fail-on: sharpe: fell 33.33% from 1.5 to 1 (rule sharpe:-10%) "
            "(compare only: nothing is committed)",
        ]
    )
    monkeypatch.setenv("SHARPE", "1.6")
    result = pytester.runpytest("--artifact-fail-on=sharpe:-10%")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*sharpe*1.5*1.6*+6.67%*ok*"])
    assert tip(git, repo) == first
    assert git(repo, "rev-list", "--count", BRANCH) == git(repo, "rev-list", "--count", first)


def test_compare_only_with_collect_only_runs_no_test_and_judges_nothing(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ARTIFACT_STORE_FAIL_ON set for CI must not fail a developer's `pytest --co`
    write_ini(pytester, repo)
    first_version(pytester, repo, git, monkeypatch)
    monkeypatch.setenv("ARTIFACT_STORE_FAIL_ON", "sharpe:-10%")
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["fail-on: not judged: --collect-only ran no tests"])
    result.stdout.no_fnmatch_line("*FAILED*")


def test_xdist_workers_and_the_gate_judge_against_the_controllers_baseline(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    first = first_version(pytester, repo, git, monkeypatch)
    pytester.makepyfile(
        test_many=f"""
            import pytest

            @pytest.mark.parametrize("i", range(4))
            def test_same_baseline(i, artifact_baseline):
                assert artifact_baseline.commit_sha == {first!r}
                assert artifact_baseline.metrics["sharpe"] == 1.5
        """
    )
    monkeypatch.setenv("SHARPE", "1.0")
    result = pytester.runpytest_subprocess(
        "-n", "2", "--artifact-store", "--artifact-correlation-id=c2",
        "--artifact-fail-on=sharpe:-10%",
    )  # fmt: skip
    assert result.ret == 1, result.stdout.str()
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*sharpe*1.5*1*FAILED*", "commit refused: fail-on: sharpe*"])
    assert tip(git, repo) == first


def test_baseline_only_on_the_remote_is_fetched(
    pytester: pytest.Pytester,
    repo: Path,
    bare_remote: Path,
    git: GitRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_ini(pytester, repo, push=True)
    first = first_version(pytester, repo, git, monkeypatch)
    assert git(bare_remote, "rev-parse", BRANCH) == first
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "-q", str(bare_remote), str(runner))  # main only
    assert git(runner, "rev-parse", "--verify", "--quiet", BRANCH, check=False) == ""
    write_ini(pytester, runner)
    pytester.makepyfile(
        test_bt=textwrap.dedent(BACKTEST)
        + f"""
def test_remote_baseline(artifact_baseline):
    assert artifact_baseline is not None
    assert artifact_baseline.commit_sha == {first!r}
"""
    )
    monkeypatch.setenv("SHARPE", "1.6")
    result = run(pytester, "c2", "--artifact-fail-on=sharpe:-10%")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"fail-on: judged against corr_c1 ({first[:10]})"])
    recorded = metadata(git, runner)["baseline"]
    assert isinstance(recorded, dict)
    assert recorded["commit_sha"] == first


def test_a_partial_version_is_not_the_default_baseline(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    first = first_version(pytester, repo, git, monkeypatch)
    pytester.makepyfile(test_more="def test_other():\n    pass\n")
    monkeypatch.setenv("SHARPE", "0.1")
    assert run(pytester, "c2", "-k", "backtest", "--artifact-allow-partial").ret == 0
    assert metadata(git, repo)["partial"] is True
    monkeypatch.setenv("SHARPE", "1.2")  # -20 % against c1 (whole), +1100 % against c2
    result = run(pytester, "c3", "--artifact-fail-on=sharpe:-10%")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines([f"fail-on: judged against corr_c1 ({first[:10]})"])


def test_a_rule_on_a_metric_this_run_lacks_suggests_the_recorded_name(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ini(pytester, repo)
    first_version(pytester, repo, git, monkeypatch)
    result = run(pytester, "c2", "--artifact-fail-on=sharpe_ratio:-10%")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["commit refused: fail-on: sharpe_ratio: this run recorded no numeric metric "
         "'sharpe_ratio', so rule sharpe_ratio:-10% fails (did you mean 'sharpe'?)"]
    )  # fmt: skip


def test_xdist_without_rules_does_not_ask_the_remote(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, tmp_path: Path
) -> None:
    # the controller decides the baseline from this clone; only a gate or an explicit
    # REF may ask the remote before the tests (a server that never answers would hold
    # every xdist session up for push_timeout)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{listener.getsockname()[1]}/r.git")
    write_ini(pytester, repo)
    pytester.makepyfile(test_plain="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-n", "2", "--artifact-store", "--artifact-correlation-id=c1"
    )
    assert result.ret == 0, result.stdout.str()
    with pytest.raises(TimeoutError):
        listener.accept()  # nobody connected
    listener.close()
    assert tip(git, repo) != ""
