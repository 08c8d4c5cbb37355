"""Backtest results without glue: real backtesting.py and backtrader results recorded by
``artifact_store.record_backtest``, DataFrames added, numpy/pandas values as metrics.

The sessions are real pytester runs committing into real repositories, checked with the
git CLI; the expected numbers come from running the same backtests here
(``backtest_strategies``, copied into each session).
"""

from __future__ import annotations

import csv
import gc
import io
import json
import math
import subprocess
import sys
import tempfile
import textwrap
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import backtest_strategies
import numpy as np
import pandas as pd
import pytest
from conftest import GitRunner

from pytest_artifact_store.backtest import extract, snake_case, to_json
from pytest_artifact_store.pytest_plugin.recorder import ArtifactRecorder

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.usefixtures("pytester_git")

BRANCH = "ai/generated/wf_test/task_001"
TASK_DIR = "Backtest/codes/task_001"
STRATEGIES = Path(backtest_strategies.__file__).read_text()


@pytest.fixture(autouse=True)
def scratch_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inline sessions in an xdist worker keep their scratch directories: keep them here."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture(scope="module")
def bt_stats() -> Any:
    return backtest_strategies.run_backtesting_py()


@pytest.fixture(scope="module")
def bt_strategy() -> Any:
    return backtest_strategies.run_backtrader()[0]


def session(pytester: pytest.Pytester, repo: Path, test_source: str, *args: str) -> Any:
    """Run ``test_source`` (with bt_strategies.py beside it) under --artifact-store."""
    ini = {
        "artifact_store_workflow_id": "wf_test",
        "artifact_store_task_id": "task_001",
        "artifact_store_auto_push": "false",
        "artifact_store_repo": str(repo),
    }
    pytester.makefile(".ini", pytest="[pytest]\n" + "".join(f"{k} = {v}\n" for k, v in ini.items()))
    pytester.makepyfile(bt_strategies=STRATEGIES, test_bt=textwrap.dedent(test_source))
    return pytester.runpytest("--artifact-store", "--artifact-correlation-id=c1", *args)


def committed(git: GitRunner, repo: Path, name: str) -> str:
    return git(repo, "show", f"{BRANCH}:{TASK_DIR}/{name}")


def committed_csv(git: GitRunner, repo: Path, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(committed(git, repo, name))))


def committed_metrics(git: GitRunner, repo: Path) -> dict[str, Any]:
    """The backtest's metrics (the plugin's own duration_seconds checked and left out)."""
    metrics: dict[str, Any] = json.loads(committed(git, repo, "metadata.json"))["test_metrics"]
    assert metrics.pop("duration_seconds") >= 0
    return metrics


def task_files(git: GitRunner, repo: Path) -> set[str]:
    listing = git(repo, "ls-tree", "--name-only", f"{BRANCH}:{TASK_DIR}")
    return set(listing.splitlines())


# -- sessions committing real backtests -------------------------------------------------


def test_backtesting_py_stats_are_committed_as_metrics_trades_and_equity(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, bt_stats: Any
) -> None:
    result = session(
        pytester,
        repo,
        """
        import bt_strategies

        def test_backtest(artifact_store):
            artifact_store.record_backtest(bt_strategies.run_backtesting_py())
        """,
    )
    assert result.ret == 0, result.stdout.str()
    assert task_files(git, repo) == {
        "equity_curve.csv",
        "metadata.json",
        "test_report.json",
        "trades.csv",
    }
    metrics = committed_metrics(git, repo)
    assert metrics["return_pct"] == pytest.approx(bt_stats["Return [%]"])
    assert metrics["sharpe_ratio"] == pytest.approx(bt_stats["Sharpe Ratio"])
    assert metrics["max_drawdown_pct"] == pytest.approx(bt_stats["Max. Drawdown [%]"])
    assert metrics["win_rate_pct"] == pytest.approx(bt_stats["Win Rate [%]"])
    assert metrics["num_trades"] == bt_stats["# Trades"] == len(bt_stats["_trades"]) > 10
    assert metrics["equity_final"] == pytest.approx(bt_stats["Equity Final [$]"])
    assert metrics["buy_and_hold_return_pct"] == pytest.approx(bt_stats["Buy & Hold Return [%]"])
    assert metrics["start"] == "2004-08-19T00:00:00.000000Z"
    assert metrics["end"] == "2013-03-01T00:00:00.000000Z"
    assert metrics["duration"] == bt_stats["Duration"].total_seconds() == 3116 * 86400
    assert metrics["max_drawdown_duration"] == bt_stats["Max. Drawdown Duration"].total_seconds()
    for label, value in bt_stats.items():  # every entry, NaN as None; the tables left out
        if label.startswith("_"):
            assert snake_case(label) not in metrics
        elif isinstance(value, float) and math.isnan(value):
            assert metrics[snake_case(label)] is None
    assert len(metrics) == sum(not label.startswith("_") for label in bt_stats.index)

    trades = committed_csv(git, repo, "trades.csv")
    assert len(trades) == len(bt_stats["_trades"])
    assert [float(t["PnL"]) for t in trades] == pytest.approx(list(bt_stats["_trades"]["PnL"]))
    assert trades[0]["EntryTime"] == str(bt_stats["_trades"]["EntryTime"].iloc[0].date())
    equity = committed_csv(git, repo, "equity_curve.csv")
    assert list(equity[0]) == ["time", "equity", "drawdown_pct", "drawdown_duration"]
    assert len(equity) == len(bt_stats["_equity_curve"])
    assert equity[0] == {
        "time": "2004-08-19",
        "equity": "10000.0",
        "drawdown_pct": "0.0",
        "drawdown_duration": "",
    }
    assert float(equity[-1]["equity"]) == pytest.approx(bt_stats["Equity Final [$]"])


def test_backtrader_strategy_is_committed_as_metrics_equity_and_transactions(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, bt_strategy: Any
) -> None:
    result = session(
        pytester,
        repo,
        """
        import bt_strategies

        def test_backtest(artifact_store):
            artifact_store.record_backtest(bt_strategies.run_backtrader())
        """,
    )
    assert result.ret == 0, result.stdout.str()
    assert task_files(git, repo) == {
        "equity_curve.csv",
        "metadata.json",
        "test_report.json",
        "transactions.csv",
    }
    trades = bt_strategy.analyzers.trades.get_analysis()
    drawdown = bt_strategy.analyzers.drawdown.get_analysis()
    returns = bt_strategy.analyzers.returns.get_analysis()
    metrics = committed_metrics(git, repo)
    assert metrics == {
        "num_trades": trades.total.total,
        "num_trades_closed": trades.total.closed,
        "num_trades_open": trades.total.open,
        "num_won": trades.won.total,
        "num_lost": trades.lost.total,
        "win_rate_pct": pytest.approx(100 * trades.won.total / trades.total.closed),
        "pnl_net": pytest.approx(trades.pnl.net.total),
        "pnl_gross": pytest.approx(trades.pnl.gross.total),
        "pnl_net_avg": pytest.approx(trades.pnl.net.average),
        "longest_win_streak": trades.streak.won.longest,
        "longest_loss_streak": trades.streak.lost.longest,
        "max_drawdown_pct": pytest.approx(drawdown.max.drawdown),
        "max_drawdown_money": pytest.approx(drawdown.max.moneydown),
        "max_drawdown_len": drawdown.max.len,
        "sharpe_ratio": pytest.approx(bt_strategy.analyzers.sharpe.get_analysis()["sharperatio"]),
        "returns_rtot": pytest.approx(returns["rtot"]),
        "returns_ravg": pytest.approx(returns["ravg"]),
        "returns_rnorm": pytest.approx(returns["rnorm"]),
        "returns_rnorm100": pytest.approx(returns["rnorm100"]),
        "start_value": 10_000.0,
        "final_value": pytest.approx(bt_strategy.broker.getvalue()),
    }
    assert trades.total.closed > 5

    equity = committed_csv(git, repo, "equity_curve.csv")
    time_returns = bt_strategy.analyzers.time_return.get_analysis()
    assert len(equity) == len(time_returns) == 300
    assert equity[0] == {"time": "2023-01-02", "return": "0.0", "equity": "10000.0"}
    assert [float(row["return"]) for row in equity] == list(time_returns.values())
    assert float(equity[-1]["equity"]) == pytest.approx(bt_strategy.broker.getvalue())
    fills = committed_csv(git, repo, "transactions.csv")
    expected = [
        fill
        for fills in bt_strategy.analyzers.transactions.get_analysis().values()
        for fill in fills
    ]
    assert [(float(f["size"]), float(f["price"])) for f in fills] == [
        (pytest.approx(size), pytest.approx(price)) for size, price, *_ in expected
    ]


def test_dataframes_and_numpy_pandas_values_are_committed(
    pytester: pytest.Pytester, repo: Path, git: GitRunner
) -> None:
    result = session(
        pytester,
        repo,
        """
        from datetime import datetime, timezone, timedelta
        import numpy as np
        import pandas as pd

        def test_values(artifact_store):
            prices = pd.DataFrame(
                {"close": [100.5, 101.25]},
                index=pd.DatetimeIndex(["2025-01-02", "2025-01-03"], name="date"),
            )
            assert artifact_store.add(prices, name="prices") == "prices.csv"
            table = pd.DataFrame({"side": ["buy", "sell"], "qty": np.array([1, 2])})
            assert artifact_store.add(table, name="fills.CSV") == "fills.CSV"
            artifact_store.add(pd.Series([0.5, 0.25], name="weight"), name="weights.csv")
            artifact_store.record_metric("sharpe", np.float64(1.25))
            artifact_store.record_metric("trades", np.int64(7))
            artifact_store.record_metric("profitable", np.bool_(True))
            artifact_store.record_metric("holding", pd.Timedelta(hours=36))
            artifact_store.record_metric("first_fill", pd.Timestamp("2025-01-02 09:30"))
            artifact_store.record_metric(
                "last_fill", datetime(2025, 1, 3, 16, tzinfo=timezone(timedelta(hours=1)))
            )
            artifact_store.record_metric("returns", np.array([0.01, -0.02]))
            artifact_store.set_metadata(
                "by_month",
                pd.Series([1.5, 2], index=pd.DatetimeIndex(["2025-01-31", "2025-02-28"])),
            )
            artifact_store.set_metadata(
                "params", {"fast": np.int32(5), "windows": (np.int64(10), 20), "on": np.bool_(0)}
            )
        """,
    )
    assert result.ret == 0, result.stdout.str()
    assert task_files(git, repo) == {
        "fills.CSV",
        "metadata.json",
        "prices.csv",
        "test_report.json",
        "weights.csv",
    }
    assert committed(git, repo, "prices.csv") == "date,close\n2025-01-02,100.5\n2025-01-03,101.25"
    assert committed(git, repo, "fills.CSV") == "side,qty\nbuy,1\nsell,2"
    assert committed(git, repo, "weights.csv") == "weight\n0.5\n0.25"
    meta = json.loads(committed(git, repo, "metadata.json"))
    assert meta["test_metrics"].pop("duration_seconds") >= 0
    assert meta["test_metrics"] == {
        "sharpe": 1.25,
        "trades": 7,
        "profitable": True,
        "holding": 129600.0,
        "first_fill": "2025-01-02T09:30:00.000000Z",
        "last_fill": "2025-01-03T15:00:00.000000Z",
        "returns": [0.01, -0.02],
    }
    assert meta["by_month"] == {
        "2025-01-31T00:00:00.000000Z": 1.5,
        "2025-02-28T00:00:00.000000Z": 2.0,
    }
    assert meta["params"] == {"fast": 5, "windows": [10, 20], "on": False}


def test_two_backtests_in_one_session_with_prefixes(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, bt_stats: Any
) -> None:
    result = session(
        pytester,
        repo,
        """
        import pytest
        import bt_strategies

        def test_both(artifact_store):
            artifact_store.record_backtest(bt_strategies.run_backtesting_py(), prefix="goog_")
            strategies = bt_strategies.run_backtrader()
            with pytest.raises(ValueError, match="'goog_trades.csv' is already used"):
                artifact_store.record_backtest(bt_strategies.run_backtesting_py(), prefix="goog_")
            artifact_store.record_backtest(strategies[0], prefix="walk_")
        """,
    )
    assert result.ret == 0, result.stdout.str()
    assert task_files(git, repo) == {
        "goog_equity_curve.csv",
        "goog_trades.csv",
        "metadata.json",
        "test_report.json",
        "walk_equity_curve.csv",
        "walk_transactions.csv",
    }
    metrics = committed_metrics(git, repo)
    assert metrics["goog_return_pct"] == pytest.approx(bt_stats["Return [%]"])
    assert metrics["walk_start_value"] == 10_000.0
    assert not any(name.startswith(("return", "num_")) for name in metrics)


def test_files_written_by_xdist_workers_reach_the_commit(
    pytester: pytest.Pytester, repo: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's scratch directory outlives it: the controller reads it at session end."""
    scratch = pytester.path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    pytester.makepyfile(bt_strategies=STRATEGIES)
    pytester.makefile(
        ".ini",
        pytest="[pytest]\nartifact_store_workflow_id = wf_test\nartifact_store_task_id = "
        f"task_001\nartifact_store_auto_push = false\nartifact_store_repo = {repo}\n",
    )
    pytester.makepyfile(
        test_bt="""
        import pandas as pd

        def test_a(artifact_store):
            artifact_store.add(pd.DataFrame({"a": [1]}), name="a.csv")

        def test_b(artifact_store):
            artifact_store.add(pd.DataFrame({"b": [2]}), name="b.csv")
        """
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "each", "--artifact-store", "--artifact-correlation-id=c1"
    )
    assert result.ret == 0, result.stdout.str()
    assert committed(git, repo, "a.csv") == "a\n1"
    assert committed(git, repo, "b.csv") == "b\n2"


# -- errors that say what is wrong ------------------------------------------------------


def test_unsupported_objects_are_named_with_what_is_supported(bt_stats: Any) -> None:
    recorder = ArtifactRecorder()
    with pytest.raises(TypeError) as info:
        recorder.record_backtest({"return": 1.0})
    assert str(info.value) == (
        "cannot read a backtest result from a value of type dict; supported: "
        "backtesting.py's stats (what Backtest.run() returns), a backtrader strategy "
        "(an element of cerebro.run()'s list) or that list, a vectorbt Portfolio"
    )
    with pytest.raises(TypeError, match=r"type backtrader\.Cerebro \(pass what cerebro"):
        import backtrader

        recorder.record_backtest(backtrader.Cerebro())
    with pytest.raises(TypeError, match=r"type pandas\.DataFrame;"):
        recorder.record_backtest(bt_stats["_trades"])
    with pytest.raises(TypeError, match=r"stats' is a backtesting\.py result .*record_backtest"):
        recorder.set_metadata("stats", bt_stats)
    assert recorder.files == recorder.metrics == recorder.metadata == {}


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda r: r.add(pd.DataFrame({"a": [1]})),
            ValueError,
            "a pandas DataFrame or Series needs name= (the CSV file it is committed as, "
            "e.g. name='trades.csv')",
        ),
        (
            lambda r: r.add(pd.DataFrame({"a": [1]}), name="trades.txt"),
            ValueError,
            "'trades.txt' names a DataFrame, which is written as CSV: end the name in .csv",
        ),
        (
            lambda r: r.add(pd.DataFrame({"a": [1]}), name="x/trades.csv"),
            ValueError,
            "invalid artifact name 'x/trades.csv'",
        ),
        (
            lambda r: r.add(42),
            TypeError,
            "expected a file path or a pandas DataFrame/Series, got int",
        ),
        (
            lambda r: r.record_metric("sharpe", np.float32("nan")),
            ValueError,
            "metric 'sharpe' is nan, which metadata.json cannot hold",
        ),
        (
            lambda r: r.record_metric("when", pd.NaT),
            ValueError,
            "metric 'when' is NaT (a missing value), which metadata.json cannot hold",
        ),
        (
            lambda r: r.set_metadata("run", {"params": {"tables": [pd.DataFrame()]}}),
            TypeError,
            "set_metadata(): 'run'['params']['tables'][0] is of type pandas.DataFrame, "
            "which is not JSON-serialisable and has no conversion (commit a table with "
            "artifact_store.add(frame, name='table.csv'))",
        ),
        (
            lambda r: r.set_metadata("tags", {"a", "b"}),
            TypeError,
            "set_metadata(): 'tags' is of type set, which is not JSON-serialisable",
        ),
        (
            lambda r: r.set_metadata("by", {(1, 2): 3}),
            TypeError,
            "'by' has the key (1, 2) (of type tuple), which JSON cannot hold",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key_and_type(
    call: Any, error: type[Exception], message: str
) -> None:
    recorder = ArtifactRecorder()
    with pytest.raises(error) as info:
        call(recorder)
    assert message in str(info.value)
    assert recorder.files == recorder.metrics == recorder.metadata == {}


# -- the conversions themselves ---------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("Return [%]", "return_pct"),
        ("Sharpe Ratio", "sharpe_ratio"),
        ("Max. Drawdown [%]", "max_drawdown_pct"),
        ("# Trades", "num_trades"),
        ("Win Rate [%]", "win_rate_pct"),
        ("Equity Final [$]", "equity_final"),
        ("Return (Ann.) [%]", "return_ann_pct"),
        ("Buy & Hold Return [%]", "buy_and_hold_return_pct"),
        ("Max. Drawdown Duration", "max_drawdown_duration"),
        ("SQN", "sqn"),
        ("DrawdownPct", "drawdown_pct"),
        ("Total Fees Paid", "total_fees_paid"),  # vectorbt
    ],
)
def test_stats_labels_become_snake_case_names(label: str, name: str) -> None:
    assert snake_case(label) == name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float64(1.5), 1.5),
        (np.int64(-3), -3),
        (np.bool_(True), True),
        (np.str_("x"), "x"),
        (pd.Timedelta(minutes=90), 5400.0),
        (timedelta(days=1), 86400.0),
        (np.timedelta64(2, "s"), 2.0),
        (pd.Timestamp("2025-01-02 03:04:05.123456"), "2025-01-02T03:04:05.123456Z"),
        (pd.Timestamp("2025-01-02 09:00", tz="America/New_York"), "2025-01-02T14:00:00.000000Z"),
        (np.datetime64("2025-01-02T03:04:05"), "2025-01-02T03:04:05.000000Z"),
        (datetime(2025, 1, 2), "2025-01-02T00:00:00.000000Z"),
        (date(2025, 1, 2), "2025-01-02"),
        (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
        (pd.Series([1.0, 2.0]), [1.0, 2.0]),
        (pd.Series({"a": np.int64(1)}), {"a": 1}),
        (pd.Index(["x", "y"]), ["x", "y"]),
        ({1: [np.float64(0.5), None]}, {"1": [0.5, None]}),
        (datetime(2025, 1, 2, tzinfo=timezone.utc), "2025-01-02T00:00:00.000000Z"),
    ],
)
def test_to_json_converts_numpy_pandas_and_datetimes(value: object, expected: object) -> None:
    converted = to_json(value, what="v")
    assert converted == expected
    assert json.loads(json.dumps(converted, allow_nan=False)) == expected


def test_to_json_turns_missing_values_into_none_only_when_asked() -> None:
    value = {"nan": np.float64("nan"), "inf": math.inf, "nat": pd.NaT, "na": pd.NA}
    assert to_json(value, what="v", missing_to_none=True) == dict.fromkeys(value)
    with pytest.raises(ValueError, match=r"v\['nan'\] is nan"):
        to_json(value, what="v")


def test_library_api_writes_the_files(bt_strategy: Any, tmp_path: Path) -> None:
    record = extract(bt_strategy)
    assert record.library == "backtrader"
    paths = record.write(tmp_path / "out")
    assert sorted(p.name for p in paths) == ["equity_curve.csv", "transactions.csv"]
    assert paths[0].read_bytes() == record.files[paths[0].name]
    assert record.metrics["final_value"] == pytest.approx(bt_strategy.broker.getvalue())


def test_importing_the_package_imports_no_backtest_library() -> None:
    code = (
        "import sys, pytest_artifact_store.backtest, pytest_artifact_store.pytest_plugin.plugin\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'backtesting', 'backtrader') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_files_written_by_the_recorder_go_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # not a worker of a commit
    recorder = ArtifactRecorder()
    recorder.add(pd.DataFrame({"a": [1]}), name="a.csv")
    written = recorder.files["a.csv"]
    assert written.read_text() == "a\n1\n"
    del recorder
    gc.collect()
    assert not written.parent.exists()
