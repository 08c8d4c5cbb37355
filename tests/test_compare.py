"""compare.py: metrics, CSV equity curves and trade counts, curve comparison, fail-on rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from artifact_history import build_history, equity_csv

from pytest_artifact_store import ArtifactStoreError
from pytest_artifact_store.compare.diff import (
    Rule,
    check_rule,
    compare_curves,
    count_rows,
    diff_versions,
    evaluate_rules,
    metric_rows,
    numeric_metrics,
    parse_equity_curve,
    parse_rule,
)
from pytest_artifact_store.compare.directions import Directions, judge, parse_direction


# ---------------------------------------------------------------- metrics
def test_numeric_metrics_skip_non_numbers_and_flatten() -> None:
    metrics = {
        "net_pnl": 10.5,
        "trades": 3,
        "ok": True,
        "name": "12",
        "none": None,
        "by_side": {"long": 7, "short": -1.5, "label": "x"},
        "list": [1, 2],
    }
    assert numeric_metrics(metrics) == {
        "net_pnl": 10.5,
        "trades": 3.0,
        "by_side.long": 7.0,
        "by_side.short": -1.5,
    }
    assert numeric_metrics(None) == {} and numeric_metrics([1]) == {}


def test_metric_rows() -> None:
    rows = metric_rows(
        {"a_only": 1, "pnl": 0.1, "zero": 0, "dd": 10},
        {"b_only": 2, "pnl": 0.3, "zero": 5, "dd": 10},
    )
    neutral = {"direction": None, "verdict": None}
    assert rows == {
        "a_only": {"a": 1, "b": None, "delta": None, "rel": None, **neutral},
        "b_only": {"a": None, "b": 2, "delta": None, "rel": None, **neutral},
        "dd": {"a": 10, "b": 10, "delta": 0, "rel": 0, **neutral},
        # no 0.19999999999999998
        "pnl": {"a": 0.1, "b": 0.3, "delta": 0.2, "rel": 2, "direction": "higher",
                "verdict": "better"},
        "zero": {"a": 0, "b": 5, "delta": 5, "rel": None, **neutral},  # relative to 0: undefined
    }  # fmt: skip
    assert metric_rows({"x": -4}, {"x": -2})["x"]["rel"] == 0.5  # relative to |a|


# ---------------------------------------------------------------- CSV
@pytest.mark.parametrize(
    ("text", "time_column", "equity_column", "labels", "values", "dated"),
    [
        ("date,equity\n2024-01-02,100\n2024-01-03,101.5\n", "date", "equity",
         ["2024-01-02", "2024-01-03"], [100, 101.5], True),
        # the equity column is found by name, wherever it is
        ("Timestamp,Equity,cash\n2024-01-02T10:00:00Z,100,5\n2024-01-02T11:00:00Z,99,5\n",
         "Timestamp", "Equity", ["2024-01-02T10:00:00Z", "2024-01-02T11:00:00Z"], [100, 99],
         True),
        ("time,nav,drawdown\n1,10,0\n2,11,0\n", "time", "nav", ["1", "2"], [10, 11], False),
        ("day;balance\n2024-01-02;1000\n2024-01-03;990\n", "day", "balance",
         ["2024-01-02", "2024-01-03"], [1000, 990], True),
        ("date\tportfolio_value\n2024-01-02\t5\n", "date", "portfolio_value",
         ["2024-01-02"], [5], True),
        # no equity-like name: the last numeric column
        ("when,pnl,total\n2024-01-02,0,100\n2024-01-03,1,101\n", "when",
         "total", ["2024-01-02", "2024-01-03"], [100, 101], True),
        # no header: first column of dates, last numeric column
        ("2024-01-02,100\n2024-01-03,102\n", "column1", "column2",
         ["2024-01-02", "2024-01-03"], [100, 102], True),
        # one bare column: positions as time
        ("equity\n100\n\n101\n", None, "equity", ["0", "1"], [100, 101], False),
        # unreadable rows are skipped, not fatal
        ("date,equity\n2024-01-02,100\n2024-01-03,n/a\n2024-01-04,1_000\n", "date", "equity",
         ["2024-01-02", "2024-01-04"], [100, 1000], True),
        ("\ufeffdate,equity\r\n2024-01-02,7\r\n", "date", "equity", ["2024-01-02"], [7], True),
    ],
)  # fmt: skip
def test_parse_equity_curve(
    text: str,
    time_column: str | None,
    equity_column: str,
    labels: list[str],
    values: list[float],
    dated: bool,
) -> None:
    curve = parse_equity_curve(text.encode())
    assert curve is not None
    assert (curve.time_column, curve.equity_column) == (time_column, equity_column)
    assert (curve.labels, curve.values, curve.dated) == (labels, values, dated)
    assert len(curve.xs) == len(values)


@pytest.mark.parametrize("text", ["", "date,equity\n", "date,side\n2024-01-02,buy\n", "\n\n"])
def test_parse_equity_curve_without_numbers(text: str) -> None:
    assert parse_equity_curve(text.encode()) is None


def test_drawdowns() -> None:
    curve = parse_equity_curve(equity_csv([100, 120, 90, 130, 117]).encode())
    assert curve is not None
    assert curve.drawdowns() == pytest.approx([0, 0, -0.25, 0, -0.1])
    assert curve.max_drawdown() == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("time,side,qty,price\n2025-01-02,buy,1,100.5\n2025-01-03,sell,1,101\n", 2),
        ("2025-01-02,buy,1,100.5\n2025-01-03,sell,1,101\n", 2),  # no header
        ("time,side,qty,price\n", 0),
        ("time,side\n\n2025-01-02,buy\n\n", 1),
        ("", 0),
    ],
)
def test_count_rows(text: str, count: int) -> None:
    assert count_rows(text.encode()) == count


# ---------------------------------------------------------------- curves
def test_compare_curves_by_time() -> None:
    a = parse_equity_curve(equity_csv([100, 101, 102, 103]).encode())
    b = parse_equity_curve(equity_csv([101, 104, 99], start="2024-01-03").encode())
    assert a is not None and b is not None
    got = compare_curves(a, b)
    # matched on dates: 01-03 (101 vs 101), 01-04 (102 vs 104), 01-05 (103 vs 99)
    assert got["aligned_by"] == "time"
    assert got["first_divergence"] == {"at": "2024-01-04", "a": 102, "b": 104}
    assert got["max_gap"] == {"value": 4, "at": "2024-01-05", "a": 103, "b": 99}
    assert (got["a_final"], got["b_final"], got["delta_final"]) == (103, 99, -4)
    assert got["points"] == {"a": 4, "b": 3, "compared": 3}


def test_compare_curves_by_position_without_times() -> None:
    a = parse_equity_curve(b"equity\n1\n2\n3\n")
    b = parse_equity_curve(b"equity\n1\n2\n3.5\n4\n")
    assert a is not None and b is not None
    got = compare_curves(a, b)
    assert got["aligned_by"] == "position"
    assert got["first_divergence"] == {"at": "2", "a": 3, "b": 3.5}
    assert got["b_final"] == 4 and got["points"]["compared"] == 3


# ---------------------------------------------------------------- rules
@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("max_drawdown:+10%", Rule("max_drawdown", 1, 10.0, True)),
        ("net_pnl:-5%", Rule("net_pnl", -1, 5.0, True)),
        ("sharpe:-0.25", Rule("sharpe", -1, 0.25, False)),
        ("by_side.long:+3", Rule("by_side.long", 1, 3.0, False)),
        (" trades:+.5% ", Rule("trades", 1, 0.5, True)),
    ],
)
def test_parse_rule(text: str, rule: Rule) -> None:
    assert parse_rule(text) == rule
    assert parse_rule(str(rule)) == rule


@pytest.mark.parametrize(
    "text", ["", "pnl", "pnl:5", "pnl:+", "pnl:+5%%", ":+5", "pnl:+-5", "a b:+1", "pnl:+1e3"]
)
def test_parse_rule_rejects(text: str) -> None:
    with pytest.raises(ArtifactStoreError, match="invalid rule"):
        parse_rule(text)


def _metrics(a: float | None, b: float | None) -> dict[str, dict[str, float | None]]:
    return {"m": {"a": a, "b": b}}


@pytest.mark.parametrize(
    ("rule", "a", "b", "failure"),
    [
        ("m:+10%", 10, 11, None),  # exactly 10 %: holds
        ("m:+10%", 10, 11.01, "m: rose 10.10% from 10 to 11.01 (rule m:+10%)"),
        ("m:+10%", 10, 5, None),  # fell: a rise bound cannot break
        ("m:-5%", 100, 96, None),
        ("m:-5%", 100, 94, "m: fell 6.00% from 100 to 94 (rule m:-5%)"),
        ("m:-5%", -100, -106, "m: fell 6.00% from -100 to -106 (rule m:-5%)"),
        ("m:+0%", 0, 0, None),
        ("m:+10%", 0, 1, "m: rose from 0 to 1 (rule m:+10%)"),
        ("m:+2", 10, 12, None),
        ("m:+2", 10, 12.5, "m: rose by 2.5 from 10 to 12.5 (rule m:+2)"),
        ("m:-0.1", 0.8, 0.7, None),  # 0.8 - 0.7 = 0.10000000000000009 still holds
        ("m:-0", 0.8, 0.79, "m: fell by 0.01 from 0.8 to 0.79 (rule m:-0)"),
    ],
)
def test_check_rule(rule: str, a: float, b: float, failure: str | None) -> None:
    assert check_rule(parse_rule(rule), _metrics(a, b)) == failure


def test_check_rule_missing_metric() -> None:
    rule = parse_rule("m:+1%")
    assert check_rule(rule, {}) == "m: not a numeric test metric of either version (rule m:+1%)"
    assert check_rule(rule, _metrics(None, 1)) == "m: not a numeric test metric of A (rule m:+1%)"
    assert check_rule(rule, _metrics(1, None)) == "m: not a numeric test metric of B (rule m:+1%)"


# ---------------------------------------------------------------- directions
@pytest.mark.parametrize(
    ("name", "direction"),
    [
        # backtesting.py's names
        ("Max. Drawdown [%]", "magnitude"),
        ("Avg. Drawdown [%]", "magnitude"),
        ("Sharpe Ratio", "higher"),
        ("Sortino Ratio", "higher"),
        ("Calmar Ratio", "higher"),
        ("Return [%]", "higher"),
        ("Return (Ann.) [%]", "higher"),
        ("Volatility (Ann.) [%]", "lower"),
        ("Win Rate [%]", "higher"),
        ("Profit Factor", "higher"),
        ("Expectancy [%]", "higher"),
        ("SQN", "higher"),
        ("CAGR [%]", "higher"),
        ("Equity Final [$]", "higher"),
        ("Commissions [$]", "magnitude"),
        ("Buy & Hold Return [%]", None),  # the market's return, not the strategy's
        ("# Trades", None),
        # snake, camel and nested names
        ("max_drawdown", "magnitude"),
        ("max_drawdown_pct", "magnitude"),
        ("maxDrawdown", "magnitude"),
        ("ulcer_index", "magnitude"),
        ("avg_loss", "magnitude"),
        ("max_consecutive_losses", "magnitude"),
        ("win_loss_ratio", "higher"),
        ("profit_and_loss", "higher"),
        ("net_pnl", "higher"),
        ("netPnL", "higher"),
        ("total_return_pct", "higher"),
        ("returns.volatility", "lower"),
        ("stats.SHARPE", "higher"),
        ("final_equity", "higher"),
        ("winrate", "higher"),
        # no direction: neutral
        ("total_trades", None),
        ("window", None),  # holds "win", not the word win_rate
        ("exposure_pct", None),
        ("stop_loss", None),
    ],
)
def test_builtin_directions(name: str, direction: str | None) -> None:
    assert Directions().of(name) == direction


@pytest.mark.parametrize(
    ("direction", "a", "b", "verdict"),
    [
        ("magnitude", -33.9, -56.6, "worse"),  # backtesting.py's negative drawdown
        ("magnitude", 33.9, 56.6, "worse"),
        ("magnitude", -33.9, -20, "better"),
        ("magnitude", -5, 5, "same"),
        ("higher", 1.2, 0.9, "worse"),
        ("higher", -1, -0.5, "better"),
        ("lower", 0.2, 0.3, "worse"),
        ("higher", 0.1 + 0.2, 0.3, "same"),
        (None, 1, 2, None),
        ("higher", None, 2, None),
    ],
)
def test_judge(direction: str | None, a: float | None, b: float | None, verdict: str) -> None:
    assert judge(direction, a, b) == verdict  # type: ignore[arg-type]


def test_metric_rows_judge_by_direction() -> None:
    rows = metric_rows(
        {"Max. Drawdown [%]": -33.9, "max_drawdown_pct": 33.9, "Sharpe Ratio": 1.2, "n": 1},
        {"Max. Drawdown [%]": -56.6, "max_drawdown_pct": 56.6, "Sharpe Ratio": 0.9, "n": 2},
    )
    assert {name: (row["direction"], row["verdict"]) for name, row in rows.items()} == {
        "Max. Drawdown [%]": ("magnitude", "worse"),
        "max_drawdown_pct": ("magnitude", "worse"),
        "Sharpe Ratio": ("higher", "worse"),
        "n": (None, None),
    }


def test_declared_directions_change_the_verdict() -> None:
    a = {"turnover": 1.0, "sharpe": 1.0, "drawdown_days": 5}
    b = {"turnover": 2.0, "sharpe": 2.0, "drawdown_days": 9}
    assert [r["verdict"] for r in metric_rows(a, b).values()] == ["worse", "better", None]
    declared = Directions.from_strings(["turnover:lower", "Sharpe : none", "drawdown_days:higher"])
    rows = metric_rows(a, b, directions=declared)
    assert {n: (r["direction"], r["verdict"]) for n, r in rows.items()} == {
        "drawdown_days": ("higher", "better"),  # a declaration beats the table
        "sharpe": (None, None),  # none switches a built-in direction off
        "turnover": ("lower", "worse"),
    }


def test_longest_declaration_wins() -> None:
    declared = Directions.from_strings(["drawdown:higher", "max drawdown:lower", "x:none"])
    assert declared.of("max_drawdown_pct") == "lower"
    assert declared.of("avg_drawdown") == "higher"
    assert Directions.from_strings(["a:higher", "a:lower"]).of("a") == "lower"  # later wins


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("turnover:lower", ("turnover", "lower")),
        (" Max. Drawdown [%] : MAGNITUDE ", ("Max. Drawdown [%]", "magnitude")),
        ("ratio:a:b:higher", ("ratio:a:b", "higher")),  # the last colon separates
        ("sharpe:none", ("sharpe", None)),
    ],
)
def test_parse_direction(text: str, parsed: tuple[str, str | None]) -> None:
    assert parse_direction(text) == parsed


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("sharpe", "expected NAME:higher, NAME:lower, NAME:magnitude"),
        ("sharpe:up", "expected NAME:higher"),
        ("sharpe:", "expected NAME:higher"),
        (":higher", "'' names no metric"),
        ("[%]:lower", "'[%]' names no metric"),
    ],
)
def test_parse_direction_rejects(text: str, why: str) -> None:
    with pytest.raises(ArtifactStoreError) as info:
        parse_direction(text)
    assert str(info.value).startswith(f"invalid metric direction {text!r}: ")
    assert why in str(info.value)


def test_directions_from_strings_name_the_source() -> None:
    with pytest.raises(ArtifactStoreError) as info:
        Directions.from_strings(["sharpe:higher", "dd:smaller"], source="pytest.ini")
    assert str(info.value).startswith("invalid metric direction 'dd:smaller': expected")
    assert str(info.value).endswith(" (from pytest.ini)")
    assert Directions.from_strings(["", "  "]) == Directions()  # blank ini lines


@pytest.mark.parametrize(
    ("rule", "a", "b", "failure"),
    [
        # a drawdown-like metric is bounded on its magnitude, whatever its sign
        ("max_drawdown_pct:+10%", -33.9, -56.6,
         "max_drawdown_pct: worsened 66.96% from -33.9 to -56.6 (rule max_drawdown_pct:+10%)"),
        ("max_drawdown_pct:+10%", 33.9, 56.6,
         "max_drawdown_pct: worsened 66.96% from 33.9 to 56.6 (rule max_drawdown_pct:+10%)"),
        ("max_drawdown_pct:+10%", -10, -11, None),  # exactly 10 % deeper
        ("max_drawdown_pct:+10%", -33.9, -20, None),  # shallower
        ("max_drawdown_pct:+5", -10, -15.5,
         "max_drawdown_pct: worsened by 5.5 from -10 to -15.5 (rule max_drawdown_pct:+5)"),
        ("max_drawdown_pct:-50%", -40, -10,
         "max_drawdown_pct: improved 75.00% from -40 to -10 (rule max_drawdown_pct:-50%)"),
        ("max_drawdown_pct:+10%", 0, -3,
         "max_drawdown_pct: worsened from 0 to -3 (rule max_drawdown_pct:+10%)"),
        # other directions keep the signed meaning
        ("sharpe:-10%", 1.2, 0.9, "sharpe: fell 25.00% from 1.2 to 0.9 (rule sharpe:-10%)"),
        ("volatility:+10%", -1, -2, None),
    ],
)  # fmt: skip
def test_rules_on_magnitude_metrics(rule: str, a: float, b: float, failure: str | None) -> None:
    metric = rule.split(":")[0]
    rows = metric_rows({metric: a}, {metric: b})
    assert check_rule(parse_rule(rule), rows) == failure


def test_rules_follow_declared_directions() -> None:
    rows = metric_rows({"max_drawdown_pct": -33.9}, {"max_drawdown_pct": -56.6})
    rules = [parse_rule("max_drawdown_pct:+10%")]
    (verdict,) = evaluate_rules({"metrics": rows}, rules)
    assert verdict.to_json() == {
        "rule": "max_drawdown_pct:+10%",
        "metric": "max_drawdown_pct",
        "a": -33.9,
        "b": -56.6,
        "direction": "magnitude",
        "compared": "magnitude",
        "change": "+66.96%",
        "holds": False,
        "message": "max_drawdown_pct: worsened 66.96% from -33.9 to -56.6 "
        "(rule max_drawdown_pct:+10%)",
    }
    # declared signed, the same bound compares the values: -56.6 did not rise
    signed = Directions.from_strings(["max_drawdown_pct:lower"])
    (verdict,) = evaluate_rules({"metrics": rows}, rules, directions=signed)
    assert verdict.holds and verdict.change == "-66.96%"


# ---------------------------------------------------------------- on a repository
def test_diff_versions_across_tasks(repo: Path, tmp_path: Path) -> None:
    history = build_history(repo, tmp_path / "src")
    with history.store() as store:
        diff = diff_versions(store, "v1", "corr_b1")
        assert diff["a"]["task_id"] == "rsi" and diff["b"]["task_id"] == "breakout"
        # files compare by name inside the task directory, metadata.json aside
        assert diff["files"] == {
            "added": [],
            "removed": ["events.log"],
            "changed": ["equity_curve.csv", "strategy.py", "trades.csv"],
        }
        assert diff["trades"] == {"a": 3, "b": 2, "delta": -1}
        assert diff["equity"]["max_gap"]["value"] == 1250
        with pytest.raises(ArtifactStoreError, match="no artifact version named 'x'"):
            diff_versions(store, "v1", "x")


def test_diff_without_curves_or_trades(repo: Path, tmp_path: Path) -> None:
    history = build_history(repo, tmp_path / "src")
    only = tmp_path / "strategy.py"
    only.write_text("X = 2\n")
    with history.store() as store:
        store.commit_artifacts(
            "momentum", "rsi", [only], metadata={"test_metrics": {}}, correlation_id="bare"
        )
        diff = diff_versions(store, "v3", "bare")
    assert diff["equity"] == {} and diff["trades"] == {}
    assert diff["files"]["removed"] == ["equity_curve.csv", "notes.md", "trades.csv"]
    assert diff["metrics"]["net_pnl"] == {
        "a": 1100,
        "b": None,
        "delta": None,
        "rel": None,
        "direction": "higher",
        "verdict": None,  # nothing to judge without B
    }
