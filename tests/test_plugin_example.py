"""The README's main job: the bundled RSI backtest, committed by `pytest --artifact-store`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import GitRunner

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rsi_backtest"
BRANCH = "ai/generated/wf_rsi_strategy/task_rsi_7_30_70"
TASK_DIR = "Backtest/codes/task_rsi_7_30_70"


@pytest.fixture
def example(
    pytester: pytest.Pytester, isolated_git_env: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(isolated_git_env / ".gitconfig"))
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    for path in EXAMPLE.iterdir():
        if path.is_file() and path.suffix in (".py", ".csv", ".ini"):
            shutil.copy(path, pytester.path / path.name)
    return pytester.path


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_example_backtest_is_committed(
    pytester: pytest.Pytester, example: Path, repo: Path, git: GitRunner, workers: list[str]
) -> None:
    if workers:
        pytest.importorskip("xdist")
    result = pytester.runpytest_subprocess(
        *workers,
        "--artifact-store",
        f"--artifact-repo={repo}",
        "--artifact-correlation-id=example-1",
        "--artifact-prompt-hash=5338bdc67442efa3",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(
        [f"committed 7 files to {BRANCH} at * (corr_example-1, prompt_5338bdc67442efa3)"]
    )
    names = git(repo, "ls-tree", "--name-only", f"{BRANCH}:{TASK_DIR}").split()
    assert sorted(names) == [
        "backtest.py",
        "equity_curve.csv",
        "events.log",
        "metadata.json",
        "rsi_strategy.py",
        "test_report.json",
        "trades.csv",
    ]
    meta = json.loads(git(repo, "show", f"{BRANCH}:{TASK_DIR}/metadata.json"))
    assert meta["test_metrics"]["total_trades"] == 12
    assert meta["test_metrics"]["net_pnl"] == 1900.87
    assert meta["agent_version"] == "example-tester-1.0"  # from the example's conftest hook
    assert meta["strategy"]["period"] == 7
    trades = git(repo, "show", f"{BRANCH}:{TASK_DIR}/trades.csv").splitlines()
    assert len(trades) == 1 + 12
    report = json.loads(git(repo, "show", f"{BRANCH}:{TASK_DIR}/test_report.json"))
    assert (report["passed"], report["failed"], len(report["tests"])) == (12, 0, 12)
    assert git(repo, "status", "--porcelain") == ""
