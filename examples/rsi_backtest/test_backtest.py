from __future__ import annotations

import csv
from itertools import pairwise
from pathlib import Path

import backtest
import pytest
from rsi_strategy import RsiParams


@pytest.fixture
def default_params(params: RsiParams) -> None:
    if params != RsiParams():
        pytest.skip("the numbers are pinned for the default parameters")


@pytest.mark.usefixtures("default_params")
def test_backtest_numbers(result: backtest.Result) -> None:
    # The bundled prices are deterministic (make_prices.py), so these are exact.
    assert result.metrics() == {
        "total_trades": 12,
        "winning_trades": 7,
        "win_rate": 0.5833,
        "net_pnl": 1900.87,
        "total_return_pct": 19.0087,
        "final_equity": 11900.87,
        "max_drawdown_pct": 12.8563,
        "sharpe": 0.7316,
    }


def test_equity_is_cash_plus_pnl(result: backtest.Result, bars: list[backtest.Bar]) -> None:
    assert len(result.equity) == len(bars)
    assert result.equity[0] == ("2023-01-02", 10_000.0)
    net = sum(t.pnl for t in result.trades)
    assert result.final_equity == pytest.approx(10_000.0 + net, abs=0.01)


def test_trades_do_not_overlap_and_fill_at_next_open(
    result: backtest.Result, bars: list[backtest.Bar]
) -> None:
    opens = {b.date: b.open for b in bars}
    for trade in result.trades:
        assert trade.entry_date < trade.exit_date
        assert trade.entry_price == opens[trade.entry_date]
        assert trade.pnl == pytest.approx(
            (trade.exit_price - trade.entry_price) * trade.quantity - 2.0, abs=0.01
        )
    for before, after in pairwise(result.trades):
        assert before.exit_date <= after.entry_date


def test_drawdown_and_sharpe_helpers() -> None:
    assert backtest.max_drawdown([100.0, 120.0, 90.0, 130.0]) == pytest.approx(0.25)
    assert backtest.max_drawdown([1.0, 2.0, 3.0]) == 0.0
    assert backtest.sharpe([100.0, 100.0, 100.0]) == 0.0


def test_outputs_are_written(outputs: dict[str, Path], result: backtest.Result) -> None:
    # derived from the result, so it holds for any parameters (the numbers are pinned above)
    with outputs["trades.csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.trades)
    net_pnl = result.metrics()["net_pnl"]
    assert sum(float(r["pnl"]) for r in rows) == pytest.approx(net_pnl, abs=0.01)
    with outputs["equity_curve.csv"].open(newline="") as f:
        curve = list(csv.DictReader(f))
    assert curve[-1] == {"date": "2024-11-29", "equity": f"{result.final_equity:.2f}"}
    events = outputs["events.log"].read_text().splitlines()
    assert events[0].startswith("2023-01-02 START")
    assert sum(" BUY " in e for e in events) == len(result.trades)
