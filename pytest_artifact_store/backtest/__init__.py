"""Backtest results without glue: metrics and files from backtest libraries' own results.

Without pytest::

    from pytest_artifact_store.backtest import extract

    record = extract(stats)         # or a backtrader strategy, or a vectorbt Portfolio
    record.metrics["return_pct"]    # JSON values: numbers, None for NaN, ISO strings for times
    paths = record.write("out")     # trades.csv, equity_curve.csv
    store.commit_artifacts(..., files=paths, metadata={"test_metrics": record.metrics})

Under pytest, ``artifact_store.record_backtest(result)`` does this and commits both.
:func:`to_json` is the conversion ``record_metric`` and ``set_metadata`` use (numpy
scalars, pandas Timestamp/Timedelta/Series, datetimes). None of the libraries, nor numpy or
pandas, is imported by this package: results are recognised by their classes' modules.
"""

from __future__ import annotations

from pytest_artifact_store.backtest.extract import SUPPORTED_RESULTS, extract
from pytest_artifact_store.backtest.record import BacktestRecord, snake_case
from pytest_artifact_store.backtest.values import to_json

__all__ = ["SUPPORTED_RESULTS", "BacktestRecord", "extract", "snake_case", "to_json"]
