"""vectorbt: a ``Portfolio`` as metrics and files. UNTESTED: vectorbt is not installed by the
test suite (it is large); this follows its documented API and is read by duck typing.

* ``portfolio.stats()``: each entry as a snake_case metric, as for backtesting.py
  (``"Total Return [%]"`` -> ``total_return_pct``, ``"Max Drawdown [%]"`` ->
  ``max_drawdown_pct``); durations in seconds, times as UTC ISO strings, NaN as None;
* ``portfolio.trades.records_readable`` -> ``trades.csv``;
* ``portfolio.value()`` -> ``equity_curve.csv`` (``time, equity``).

A portfolio of several columns (not grouped) is refused: select one (``portfolio[col]``).
"""

from __future__ import annotations

from typing import Any

from pytest_artifact_store.backtest import values
from pytest_artifact_store.backtest.record import BacktestRecord, equity_csv, stats_metrics


def extract(portfolio: Any) -> BacktestRecord:
    equity = portfolio.value()
    if getattr(equity, "ndim", 1) != 1:
        raise ValueError(
            f"the vectorbt Portfolio has {equity.shape[1]} columns: record one at a time "
            "(portfolio[column]) or group them (group_by=True)"
        )
    files: dict[str, bytes] = {}
    trades = getattr(portfolio.trades, "records_readable", None)
    if values.is_table(trades):
        files["trades.csv"] = values.table_csv(trades)
    files["equity_curve.csv"] = equity_csv(equity)
    return BacktestRecord("vectorbt", stats_metrics(portfolio.stats(), "stats()"), files)
