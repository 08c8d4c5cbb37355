"""backtesting.py: the stats ``Backtest.run()`` returns."""

from __future__ import annotations

from typing import Any

from pytest_artifact_store.backtest import values
from pytest_artifact_store.backtest.record import BacktestRecord, equity_csv, stats_metrics


def extract(stats: Any) -> BacktestRecord:
    files: dict[str, bytes] = {}
    trades = stats.get("_trades")
    if values.is_table(trades):
        files["trades.csv"] = values.table_csv(trades)
    equity = stats.get("_equity_curve")
    if values.is_table(equity):
        files["equity_curve.csv"] = equity_csv(equity)
    return BacktestRecord("backtesting.py", stats_metrics(stats, "stats"), files)
