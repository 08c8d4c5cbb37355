"""The ``artifact-store`` command (SPEC §10) through ``cli.main([...])`` on real repositories."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from artifact_history import PROMPT, T0, History, build_history, metric_pair

from pytest_artifact_store import cli
from pytest_artifact_store.cli import commands
from pytest_artifact_store.compare.text import fmt_number

NOW = T0 + timedelta(days=3, hours=5)  # v3 is 5 hours old, v1 3 days


@pytest.fixture
def history(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> History:
    made = build_history(repo, tmp_path / "src")
    monkeypatch.setattr(commands, "utc_now", lambda: NOW)
    monkeypatch.chdir(repo)
    return made


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


# ---------------------------------------------------------------- list
def test_list_table(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    s = {name: history.sha(name)[:10] for name in history.made}
    code, out, err = run(capsys, "list")
    assert (code, err) == (0, "")
    assert out == (
        "CORRELATION ID  WORKFLOW/TASK      AGE  METRICS                                        SHA\n"  # noqa: E501
        f"corr_v3         momentum/rsi        5h  net_pnl=1100 sharpe=1.1 max_drawdown_pct=9     {s['v3']}\n"  # noqa: E501
        f"corr_b1         momentum/breakout   1d  net_pnl=-250 sharpe=-0.2 max_drawdown_pct=7.5  {s['b1']}\n"  # noqa: E501
        f"corr_v2         momentum/rsi        2d  net_pnl=1200.5 sharpe=0.9 max_drawdown_pct=12  {s['v2']}\n"  # noqa: E501
        f"corr_v1         momentum/rsi        3d  net_pnl=1000 sharpe=0.8 max_drawdown_pct=10    {s['v1']}\n"  # noqa: E501
    )


def test_list_json_is_the_library_entries(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = run_json(capsys, "list")
    with history.store() as store:
        assert listed == store.list_artifacts()
    assert [e["correlation_id"] for e in listed] == ["corr_v3", "corr_b1", "corr_v2", "corr_v1"]
    assert listed[0]["commit_sha"] == history.sha("v3")
    assert listed[0]["test_metrics"]["sharpe"] == 1.1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--workflow", "momentum"], ["corr_v3", "corr_b1", "corr_v2", "corr_v1"]),
        (["--workflow", "other"], []),
        (["--task", "rsi"], ["corr_v3", "corr_v2", "corr_v1"]),
        (["--workflow", "momentum", "--task", "breakout"], ["corr_b1"]),
        (["--prompt", PROMPT.upper()], ["corr_b1"]),
        (["--limit", "2"], ["corr_v3", "corr_b1"]),
        (["--limit", "0"], ["corr_v3", "corr_b1", "corr_v2", "corr_v1"]),
    ],
)
def test_list_filters(
    history: History, capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]
) -> None:
    assert [e["correlation_id"] for e in run_json(capsys, "list", *args)] == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workflow", "../x"], "argument --workflow: invalid workflow_id '../x'"),
        (["--task", "-x"], "argument --task: expected one argument"),
        (["--prompt", "xyz"], "argument --prompt: "),
        (["--limit", "-1"], "argument --limit: must be >= 0, got '-1'"),
        (["--limit", "many"], "argument --limit: invalid int value: 'many'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_list_usage_errors_exit_2(
    history: History, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "list", *args)
    assert (code, out) == (2, "")
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_list_empty_repository(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--repo", str(repo), "list") == (0, "no artifact versions yet\n", "")
    assert run(capsys, "--repo", str(repo), "list", "--json") == (0, "[]\n", "")


def test_repo_option_after_the_command(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    listed = run_json(capsys, "list", "--repo", str(history.repo))
    assert len(listed) == 4


def test_not_a_repository_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--repo", str(tmp_path), "list")
    assert (code, out) == (1, "")
    assert err.startswith("artifact-store: error: ") and err.count("\n") == 1


# ---------------------------------------------------------------- show
@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("v2", "v2"),
        ("corr_v2", "v2"),
        (f"prompt_{PROMPT}", "b1"),
        ("ai/generated/momentum/rsi", "v3"),
        ("momentum/breakout", "b1"),
        ("SHA:v1", "v1"),
        ("SHORTSHA:v2", "v2"),
    ],
)
def test_show_finds_every_kind_of_ref(
    history: History, capsys: pytest.CaptureFixture[str], ref: str, expected: str
) -> None:
    if ref.startswith("SHA:"):
        ref = history.sha(ref[4:])
    elif ref.startswith("SHORTSHA:"):
        ref = history.sha(ref[9:])[:10]
    shown = run_json(capsys, "show", ref)
    assert shown["commit_sha"] == history.sha(expected)
    assert shown["correlation_id"] == f"corr_{expected}"


def test_show_json_is_exactly_the_entry(
    history: History, capsys: pytest.CaptureFixture[str], git: Any
) -> None:
    shown = run_json(capsys, "show", "v1")
    with history.store() as store:
        entry = store.get_artifact_by_correlation_id("v1")
    assert shown == entry
    text = run(capsys, "show", "v1")[1]
    size = git(history.repo, "cat-file", "-s", f"{history.sha('v1')}:Backtest/codes/rsi/trades.csv")
    assert "  Backtest/codes/rsi/trades.csv" in text and f"{size} B" in text
    assert "  push           no remote 'origin'\n" in text


def test_show_text(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", "corr_v2")
    assert (code, err) == (0, "")
    meta_size = len(
        subprocess.run(
            ["git", "show", f"{history.sha('v2')}:Backtest/codes/rsi/metadata.json"],
            cwd=history.repo,
            capture_output=True,
            check=True,
        ).stdout
    )
    assert out == (
        "corr_v2\n"
        "  workflow/task  momentum/rsi\n"
        "  branch         ai/generated/momentum/rsi\n"
        f"  commit         {history.sha('v2')}\n"
        "  created        2025-03-02T12:00:00.000000Z (2d ago)\n"
        "  tags           corr_v2\n"
        "  agent          coder-1.4\n"
        f"  based on       {history.sha('v1')}\n"
        "  push           no remote 'origin'\n"
        "metrics\n"
        "  net_pnl           1200.5\n"
        "  max_drawdown_pct  12\n"
        "  sharpe            0.9\n"
        "  total_trades      4\n"
        "files\n"
        "  Backtest/codes/rsi/equity_curve.csv    111 B\n"
        f"  Backtest/codes/rsi/metadata.json     {meta_size:>5,} B\n"
        "  Backtest/codes/rsi/notes.md             15 B\n"
        "  Backtest/codes/rsi/strategy.py          11 B\n"
        "  Backtest/codes/rsi/trades.csv          175 B\n"
        "metadata\n"
        '  test_status  "passed"\n'
    )


@pytest.mark.parametrize("ref", ["nope", "corr_nope", "0" * 40, "main", "HEAD", "a b"])
def test_show_unknown_ref_exit_1(
    history: History, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    code, out, err = run(capsys, "show", ref)
    assert (code, out) == (1, "")
    assert err == (
        f"artifact-store: error: no artifact version named {ref!r}: give a correlation id, "
        "a tag, a task branch or a commit sha (see 'artifact-store list')\n"
    )


def test_show_push_state_follows_the_remote(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path, git: Any
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(history.repo, "remote", "add", "origin", str(remote))
    git(history.repo, "push", "-q", "origin", "main")  # the base the task branches share
    assert (
        "  push           not on origin (run 'artifact-store push')\n"
        in run(capsys, "show", "v1")[1]
    )
    assert run(capsys, "push")[0] == 0
    assert "  push           on origin\n" in run(capsys, "show", "v1")[1]


# ---------------------------------------------------------------- diff
def test_diff_text(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    s = {name: history.sha(name)[:10] for name in history.made}
    code, out, err = run(capsys, "diff", "v1", "v2")
    assert (code, err) == (0, "")
    assert out == (
        f"a  corr_v1  momentum/rsi  {s['v1']}  2025-03-01T12:00:00.000000Z\n"
        f"b  corr_v2  momentum/rsi  {s['v2']}  2025-03-02T12:00:00.000000Z\n"
        "\n"
        "METRIC               A       B   DELTA      REL  VERDICT\n"
        "max_drawdown_pct    10      12      +2  +20.00%  worse\n"
        "net_pnl           1000  1200.5  +200.5  +20.05%  better\n"
        "sharpe             0.8     0.9    +0.1  +12.50%  better\n"
        "total_trades         3       4      +1  +33.33%  -\n"
        "\n"
        "files: 1 added, 1 removed, 3 changed\n"
        "  + notes.md\n"
        "  - events.log\n"
        "  ~ equity_curve.csv\n"
        "  ~ strategy.py\n"
        "  ~ trades.csv\n"
        "\n"
        "equity: final 11000 -> 11200.5 (+200.5, better)\n"
        "  largest gap 300 at 2024-01-05 (10200 vs 9900)\n"
        "  first divergence at 2024-01-04 (10050 vs 10150)\n"
        "  max drawdown 0.50% -> 2.46% (worse)\n"
        "\n"
        "trades: 3 -> 4 (+1)\n"
    )


def test_diff_json(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    diff = run_json(capsys, "diff", "corr_v1", history.sha("v2"))
    assert set(diff) == {"a", "b", "metrics", "files", "equity", "trades", "fail_on"}
    assert diff["a"]["commit_sha"] == history.sha("v1")
    assert diff["b"]["correlation_id"] == "corr_v2"
    assert diff["metrics"]["net_pnl"] == {
        "a": 1000,
        "b": 1200.5,
        "delta": 200.5,
        "rel": 0.2005,
        "direction": "higher",
        "verdict": "better",
    }
    assert diff["metrics"]["sharpe"] == {
        "a": 0.8,
        "b": 0.9,
        "delta": 0.1,
        "rel": 0.125,
        "direction": "higher",
        "verdict": "better",
    }
    assert diff["metrics"]["max_drawdown_pct"]["verdict"] == "worse"
    assert diff["metrics"]["total_trades"]["verdict"] is None  # no direction: neutral
    assert diff["fail_on"] == []
    assert diff["files"] == {
        "added": ["notes.md"],
        "removed": ["events.log"],
        "changed": ["equity_curve.csv", "strategy.py", "trades.csv"],
    }
    equity = diff["equity"]
    assert (equity["a_final"], equity["b_final"]) == (11000, 11200.5)
    # the same unit and the same judgement as the text's "max drawdown 0.50% -> 2.46%"
    assert (round(equity["a_max_drawdown_pct"], 2), round(equity["b_max_drawdown_pct"], 2)) == (
        0.5,
        2.46,
    )
    assert (equity["final_verdict"], equity["max_drawdown_verdict"]) == ("better", "worse")
    assert equity["max_gap"] == {"value": 300, "at": "2024-01-05", "a": 10200, "b": 9900}
    assert equity["first_divergence"] == {"at": "2024-01-04", "a": 10050, "b": 10150}
    assert diff["trades"] == {"a": 3, "b": 4, "delta": 1}


def test_diff_of_identical_versions(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    diff = run_json(capsys, "diff", "v2", "corr_v2")
    assert diff["files"] == {"added": [], "removed": [], "changed": []}
    assert all(m["delta"] == 0 for m in diff["metrics"].values())
    assert diff["equity"]["first_divergence"] is None
    assert diff["equity"]["max_gap"]["value"] == 0


@pytest.mark.parametrize(
    ("rules", "code", "err"),
    [
        # v1 -> v2: max_drawdown_pct 10 -> 12 (+20 %), net_pnl 1000 -> 1200.5, sharpe 0.8 -> 0.9
        (["max_drawdown_pct:+25%"], 0, ""),
        (["max_drawdown_pct:+20%"], 0, ""),
        (
            ["max_drawdown_pct:+10%"],
            1,
            "artifact-store: fail-on: max_drawdown_pct: worsened 20.00% from 10 to 12 "
            "(rule max_drawdown_pct:+10%)\n",
        ),
        (["max_drawdown_pct:+2"], 0, ""),
        (
            ["max_drawdown_pct:+1.5"],
            1,
            "artifact-store: fail-on: max_drawdown_pct: worsened by 2 from 10 to 12 "
            "(rule max_drawdown_pct:+1.5)\n",
        ),
        (["net_pnl:-5%", "sharpe:-0"], 0, ""),  # both rose: a "fell" bound cannot break
        (
            ["net_pnl:+10%", "sharpe:+0.05"],
            1,
            "artifact-store: fail-on: net_pnl: rose 20.05% from 1,000 to 1,200.5 "
            "(rule net_pnl:+10%)\n"
            "artifact-store: fail-on: sharpe: rose by 0.1 from 0.8 to 0.9 (rule sharpe:+0.05)\n",
        ),
        (
            ["win_rate:-5%"],
            1,
            "artifact-store: fail-on: win_rate: not a numeric test metric of either version "
            "(rule win_rate:-5%)\n",
        ),
    ],
)
def test_diff_fail_on(
    history: History,
    capsys: pytest.CaptureFixture[str],
    rules: list[str],
    code: int,
    err: str,
) -> None:
    got_code, out, got_err = run(capsys, "diff", "v1", "v2", "--fail-on", *rules)
    assert (got_code, got_err) == (code, err)
    if code == 0:
        n = len(rules)
        assert out.endswith(
            "\nfail-on: the rule holds\n" if n == 1 else f"\nfail-on: all {n} rules hold\n"
        )


def test_diff_fail_on_falls(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    # v2 -> b1: net_pnl 1200.5 -> -250
    code, out, err = run(capsys, "diff", "v2", "b1", "--json", "--fail-on", "net_pnl:-5%")
    assert code == 1
    json.loads(out)  # stdout stays exactly JSON
    assert err == (
        "artifact-store: fail-on: net_pnl: fell 120.82% from 1,200.5 to -250 (rule net_pnl:-5%)\n"
    )
    assert run(capsys, "diff", "v2", "b1", "--fail-on", "net_pnl:-200%")[0] == 0
    assert run(capsys, "diff", "v2", "b1", "--fail-on", "net_pnl:-1450")[0] == 1
    assert run(capsys, "diff", "v2", "b1", "--fail-on", "net_pnl:-1450.5")[0] == 0


@pytest.mark.parametrize("rule", ["net_pnl", "net_pnl:5%", "net_pnl:+x%", ":+5%", "net_pnl:+5%%"])
def test_diff_bad_rule_is_usage(
    history: History, capsys: pytest.CaptureFixture[str], rule: str
) -> None:
    code, out, err = run(capsys, "diff", "v1", "v2", "--fail-on", rule)
    assert (code, out) == (2, "")
    assert f"argument --fail-on: invalid rule {rule!r}" in err and err.count("\n") == 1


def test_diff_unknown_ref(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diff", "v1", "zzz")
    assert (code, out) == (1, "")
    assert err.startswith("artifact-store: error: no artifact version named 'zzz'")


@pytest.mark.parametrize("sign", [-1, 1])  # backtesting.py reports drawdowns negative
def test_diff_drawdown_getting_worse_fails_whatever_its_sign(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path, sign: int
) -> None:
    metric_pair(
        history,
        tmp_path / "pair",
        {"max_drawdown_pct": sign * 33.9, "Sharpe Ratio": 1.2, "# Trades": 10},
        {"max_drawdown_pct": sign * 56.6, "Sharpe Ratio": 0.9, "# Trades": 12},
    )
    code, out, err = run(capsys, "diff", "sma_a", "sma_b", "--fail-on", "max_drawdown_pct:+10%")
    a, b = fmt_number(sign * 33.9), fmt_number(sign * 56.6)
    assert (code, err) == (
        1,
        f"artifact-store: fail-on: max_drawdown_pct: worsened 66.96% from {a} to {b} "
        "(rule max_drawdown_pct:+10%)\n",
    )
    table = out.split("\n\n")[1].splitlines()
    assert table[0].split() == ["METRIC", "A", "B", "DELTA", "REL", "VERDICT"]
    assert [(line.split()[0], line.split()[-1]) for line in table[1:]] == [
        ("#", "-"),  # no direction: neutral
        ("Sharpe", "worse"),  # sharpe fell
        ("max_drawdown_pct", "worse"),
    ]
    # --json carries the same verdicts, the rule's included, and still exits 1
    code, out, err = run(
        capsys, "diff", "sma_a", "sma_b", "--json", "--fail-on", "max_drawdown_pct:+10%"
    )
    diff = json.loads(out)
    assert code == 1 and "max_drawdown_pct: worsened 66.96%" in err
    verdicts = {name: row["verdict"] for name, row in diff["metrics"].items()}
    assert verdicts == {"# Trades": None, "Sharpe Ratio": "worse", "max_drawdown_pct": "worse"}
    assert [(v["rule"], v["holds"], v["direction"], v["change"]) for v in diff["fail_on"]] == [
        ("max_drawdown_pct:+10%", False, "magnitude", "+66.96%")
    ]
    assert diff["fail_on"][0]["message"] == err.removeprefix("artifact-store: fail-on: ").strip()


def test_diff_json_carries_rules_that_hold(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    diff = run_json(capsys, "diff", "v1", "v2", "--fail-on", "net_pnl:-5%", "sharpe:-0")
    assert [(v["rule"], v["holds"], v["message"], v["change"]) for v in diff["fail_on"]] == [
        ("net_pnl:-5%", True, None, "+20.05%"),
        ("sharpe:-0", True, None, "+0.1"),
    ]


def test_diff_declared_direction_changes_the_verdict(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    metric_pair(
        history,
        tmp_path / "pair",
        {"max_drawdown_pct": -33.9, "turnover": 1.5},
        {"max_drawdown_pct": -56.6, "turnover": 3.0},
    )
    rows = run_json(capsys, "diff", "sma_a", "sma_b")["metrics"]
    assert (rows["turnover"]["verdict"], rows["max_drawdown_pct"]["verdict"]) == (None, "worse")
    argv = ["diff", "sma_a", "sma_b", "--direction", "turnover:lower"]
    argv += ["--direction", "max_drawdown_pct:none", "--fail-on", "max_drawdown_pct:+10%"]
    code, out, err = run(capsys, *argv)
    # declared neutral, the drawdown is compared signed again: -56.6 did not rise
    assert (code, err) == (0, "")
    table = out.split("\n\n")[1].splitlines()
    assert [line.split()[-1] for line in table[1:]] == ["-", "worse"]
    assert out.endswith("\nfail-on: the rule holds\n")


@pytest.mark.parametrize("command", [["diff", "v1", "v2"], ["report", "--out", "-"]])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sharpe:up", "invalid metric direction 'sharpe:up': expected NAME:higher, NAME:lower"),
        ("sharpe", "invalid metric direction 'sharpe': expected NAME:higher"),
        (":higher", "invalid metric direction ':higher': '' names no metric"),
    ],
)
def test_bad_direction_is_usage(
    history: History,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    value: str,
    message: str,
) -> None:
    code, out, err = run(capsys, *command, f"--direction={value}")
    assert (code, out) == (2, "")
    assert f"argument --direction: {message}" in err and err.count("\n") == 1


# ---------------------------------------------------------------- revert
def test_revert(history: History, capsys: pytest.CaptureFixture[str], git: Any) -> None:
    before = git(history.repo, "rev-parse", "main")
    code, out, err = run(capsys, "revert", "v1")
    new = git(history.repo, "rev-parse", "main")
    assert (code, err) == (0, "")
    assert out == f"reverted main to corr_v1: new commit {new[:10]}\n"
    assert git(history.repo, "rev-parse", "main^") == before
    assert git(history.repo, "show", "main:Backtest/codes/rsi/strategy.py") == "PERIOD = 14"
    assert git(history.repo, "rev-parse", "main:Backtest/codes/rsi") == git(
        history.repo, "rev-parse", "corr_v1^{commit}:Backtest/codes/rsi"
    )
    # the work tree (main is checked out, clean) is brought along
    assert (history.repo / "Backtest/codes/rsi/strategy.py").read_text() == "PERIOD = 14\n"
    assert git(history.repo, "status", "--porcelain") == ""


def test_revert_json_and_target(
    history: History, capsys: pytest.CaptureFixture[str], git: Any
) -> None:
    git(history.repo, "branch", "release")
    result = run_json(capsys, "revert", "corr_b1", "--target", "release")
    assert result["branch"] == "release" and result["reverted_to"] == "corr_b1"
    assert git(history.repo, "rev-parse", "release") == result["commit_sha"]
    assert git(history.repo, "show", "release:Backtest/codes/breakout/strategy.py") == (
        "LOOKBACK = 20"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["revert", "nope"], "artifact-store: error: unknown tag 'nope'"),
        (["revert", "v1", "--target", "gone"], "artifact-store: error: target branch 'gone'"),
    ],
)
def test_revert_failures(
    history: History, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith(message) and err.count("\n") == 1


# ---------------------------------------------------------------- push
@pytest.fixture
def remote(history: History, tmp_path: Path, git: Any) -> Path:
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(path))
    git(history.repo, "remote", "add", "origin", str(path))
    git(history.repo, "push", "-q", "origin", "main")  # the base the task branches share
    git(history.repo, "branch", "private-work")
    git(history.repo, "tag", "-a", "v1.0", "-m", "a release")
    git(history.repo, "config", "push.followTags", "true")
    return path


def test_push_everything_the_remote_lacks(
    history: History, remote: Path, capsys: pytest.CaptureFixture[str], git: Any
) -> None:
    code, out, err = run(capsys, "push")
    assert (code, err) == (0, "")
    assert out == (
        "pushed ai/generated/momentum/breakout\n"
        "pushed ai/generated/momentum/rsi\n"
        "origin: 2 pushed, 0 up to date, 0 failed\n"
    )
    refs = dict(
        reversed(line.split("\t"))
        for line in git(remote, "show-ref").replace(" ", "\t").split("\n")
    )
    assert refs["refs/heads/ai/generated/momentum/rsi"] == history.sha("v3")
    assert refs["refs/heads/ai/generated/momentum/breakout"] == history.sha("b1")
    assert {r for r in refs if r.startswith("refs/tags/")} == {
        "refs/tags/corr_v1",
        "refs/tags/corr_v2",
        "refs/tags/corr_v3",
        "refs/tags/corr_b1",
        f"refs/tags/prompt_{PROMPT}",
    }
    # only artifact branches and their tags are pushed (main was pushed by the fixture)
    assert {r for r in refs if r.startswith("refs/heads/")} == {
        "refs/heads/main",
        "refs/heads/ai/generated/momentum/rsi",
        "refs/heads/ai/generated/momentum/breakout",
    }
    assert run(capsys, "push") == (
        0,
        "up to date ai/generated/momentum/breakout\n"
        "up to date ai/generated/momentum/rsi\n"
        "origin: 0 pushed, 2 up to date, 0 failed\n",
        "",
    )


def test_push_json_other_remote(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str], git: Any
) -> None:
    backup = tmp_path / "backup.git"
    git(tmp_path, "init", "-q", "--bare", str(backup))
    git(history.repo, "remote", "add", "backup", str(backup))
    git(history.repo, "push", "-q", "backup", "main")
    result = run_json(capsys, "push", "--remote", "backup", "--timeout", "20")
    assert result == {
        "success": True,
        "remote": "backup",
        "pushed": ["ai/generated/momentum/breakout", "ai/generated/momentum/rsi"],
        "up_to_date": [],
        "errors": {},
    }
    assert git(backup, "rev-parse", "corr_v2^{commit}") == history.sha("v2")


def test_push_failures(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str], git: Any
) -> None:
    code, out, err = run(capsys, "push")
    assert (code, out) == (1, "")
    assert err == (
        "artifact-store: error: no remote named 'origin'; add it with 'git remote add origin URL'\n"
    )
    git(history.repo, "remote", "add", "origin", str(tmp_path / "missing.git"))
    code, out, err = run(capsys, "push")
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith("artifact-store: error: ")
    assert "cannot reach remote 'origin': " in err and err.count("\n") == 1
    assert run(capsys, "push", "--timeout", "0")[0] == 2


# ---------------------------------------------------------------- gc
def _refs(git: Any, repo: Path, pattern: str) -> list[str]:
    return str(git(repo, "for-each-ref", "--format=%(refname)", pattern)).split()


def test_gc_dry_run_moves_nothing(
    history: History, capsys: pytest.CaptureFixture[str], git: Any
) -> None:
    code, out, err = run(capsys, "gc", "--older-than", "30", "--dry-run")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    for line, task, days in zip(lines, ("breakout", "rsi"), (2, 3), strict=False):
        match = re.fullmatch(
            f"would archive ai/generated/momentum/{task} -> refs/archive/ai/generated/momentum/"
            rf"{task} \(newest version ([\d.]+) days old\)",
            line,
        )
        assert match, line
        expected = (datetime.now(timezone.utc) - T0).total_seconds() / 86400 - days
        assert float(match[1]) == pytest.approx(expected, abs=0.02)
    assert lines[2:] == ["dry run: 2 branches would move"]
    assert _refs(git, history.repo, "refs/archive/") == []


def test_gc_archives_old_branches(
    history: History, capsys: pytest.CaptureFixture[str], git: Any, tmp_path: Path
) -> None:
    # a fresh version on a third task stays (its newest version is new)
    fresh = tmp_path / "fresh.py"
    fresh.write_text("X = 1\n")
    with history.store() as store:
        store.commit_artifacts("momentum", "fresh", [fresh], correlation_id="f1")
    moves = run_json(capsys, "gc", "--older-than", "30")
    assert [m["branch"] for m in moves] == [
        "ai/generated/momentum/breakout",
        "ai/generated/momentum/rsi",
    ]
    assert moves[1]["commit_sha"] == history.sha("v3")
    assert _refs(git, history.repo, "refs/archive/") == [
        "refs/archive/ai/generated/momentum/breakout",
        "refs/archive/ai/generated/momentum/rsi",
    ]
    assert _refs(git, history.repo, "refs/heads/ai/") == ["refs/heads/ai/generated/momentum/fresh"]
    assert git(history.repo, "rev-parse", "refs/archive/ai/generated/momentum/rsi") == (
        history.sha("v3")
    )
    # tags kept; still found by correlation id; listed only with --archived
    assert git(history.repo, "rev-parse", "corr_v1^{commit}") == history.sha("v1")
    assert [e["correlation_id"] for e in run_json(capsys, "list")] == ["corr_f1"]
    archived = run_json(capsys, "list", "--archived")
    assert [e["correlation_id"] for e in archived] == [
        "corr_f1",
        "corr_v3",
        "corr_b1",
        "corr_v2",
        "corr_v1",
    ]
    assert [e.get("archived", False) for e in archived] == [False, True, True, True, True]
    shown = run_json(capsys, "show", "v2")
    assert shown["commit_sha"] == history.sha("v2") and shown["archived"] is True
    archive_line = "  archived       yes (refs/archive/ai/generated/momentum/rsi)\n"
    assert archive_line in run(capsys, "show", "v2")[1]
    assert "archived" not in run_json(capsys, "show", "f1")
    code, out, _ = run(capsys, "list", "--archived", "--task", "rsi")
    assert code == 0 and out.splitlines()[1].endswith(f"{history.sha('v3')[:10]} (archived)")
    # nothing left to move
    assert run(capsys, "gc", "--older-than", "30") == (
        0,
        "nothing to archive: no task branch's newest version is 30+ days old\n",
        "",
    )


def test_gc_keep_last(history: History, capsys: pytest.CaptureFixture[str], git: Any) -> None:
    # the workflow's newest version (v3) lives on the rsi branch: that branch stays
    code, out, err = run(capsys, "gc", "--older-than", "1", "--keep-last", "1")
    assert (code, err) == (0, "")
    assert out.startswith(
        "archived ai/generated/momentum/breakout -> refs/archive/ai/generated/momentum/breakout"
    )
    assert len(out.splitlines()) == 1
    assert _refs(git, history.repo, "refs/heads/ai/") == ["refs/heads/ai/generated/momentum/rsi"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gc"], "the following arguments are required: --older-than"),
        (["gc", "--older-than", "-1"], "argument --older-than: must be >= 0, got '-1'"),
        (["gc", "--older-than", "nan"], "argument --older-than: must be >= 0, got 'nan'"),
        (["gc", "--older-than", "1", "--keep-last", "x"], "argument --keep-last: invalid int"),
    ],
)
def test_gc_usage(
    history: History, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err


# ---------------------------------------------------------------- report
def test_report_writes_a_self_contained_file(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "r.html"
    code, out, err = run(capsys, "report", "--out", str(out_file))
    assert (code, err) == (0, "")
    assert out == f"wrote {out_file}: 4 versions in 2 tasks\n"
    page = out_file.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('<path class="equity"') == 4
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<script" not in page and "<link" not in page


def test_report_default_path_stdout_and_workflow(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "report")[1] == "wrote artifact-store-report.html: 4 versions in 2 tasks\n"
    assert (history.repo / "artifact-store-report.html").is_file()
    code, out, err = run(capsys, "report", "--out", "-", "--workflow", "momentum")
    assert (code, err) == (0, "")
    assert out.startswith("<!DOCTYPE html>") and "corr_v3" in out
    # a mistyped workflow is an error, not a silently empty report
    code, out, err = run(capsys, "report", "--out", "-", "--workflow", "nothing")
    assert (code, out) == (1, "")
    assert err == "artifact-store: error: no artifact versions of workflow 'nothing' to report\n"


def test_report_colours_by_declared_direction(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    metric_pair(history, tmp_path / "pair", {"turnover": 1.5}, {"turnover": 3.0})
    code, out, err = run(capsys, "report", "--out", "-", "--workflow", "bt")
    assert (code, err) == (0, "")
    assert '<span class="delta neutral" title="+1.5 vs the previous version">' in out
    out = run(capsys, "report", "--out", "-", "--workflow", "bt", "--direction", "turnover:lower")[
        1
    ]
    assert '<span class="delta worse" title="+1.5 vs the previous version: worse">' in out


def test_report_unwritable_out_is_one_line(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "report", "--out", str(tmp_path / "no" / "such" / "r.html"))
    assert (code, out) == (1, "")
    assert err.startswith("artifact-store: error: No such file or directory: ")
    assert err.count("\n") == 1


# ---------------------------------------------------------------- help
@pytest.mark.parametrize("command", ["list", "show", "diff", "revert", "push", "gc", "report"])
def test_help_everywhere(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: artifact-store {command}")


def test_top_level_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("list", "show", "diff", "revert", "push", "gc", "report"):
        assert f"    {command} " in out


def test_missing_command_is_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert (code, out) == (2, "")
    assert "the following arguments are required: COMMAND" in err


def test_console_script(history: History) -> None:
    exe = Path(sys.executable).parent / "artifact-store"
    if not exe.exists():
        pytest.skip(f"no console script at {exe} (package not installed in .venv)")
    proc = subprocess.run(
        [str(exe), "--repo", str(history.repo), "show", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("artifact-store: error: no artifact version named 'nope'")
    assert proc.stdout == ""


def test_readme_documents_every_command() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"list", "show", "diff", "revert", "push", "gc", "report"} <= set(sub.choices)
    for command in sub.choices:
        assert f"`{command}" in section, f"README's Command line section lacks {command}"
