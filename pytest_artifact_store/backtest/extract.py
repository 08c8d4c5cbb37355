"""``extract(result)``: a backtest library's result as metrics and files, ready to commit.

The libraries are optional and never imported here: a result is recognised by the module
its class comes from (see :func:`.values.backtest_library`) and read through its own API.
"""

from __future__ import annotations

from pytest_artifact_store.backtest import values
from pytest_artifact_store.backtest.record import BacktestRecord

SUPPORTED_RESULTS = (
    "backtesting.py's stats (what Backtest.run() returns), a backtrader strategy "
    "(an element of cerebro.run()'s list) or that list, a vectorbt Portfolio"
)


def extract(result: object) -> BacktestRecord:
    """Read a backtest library's result; TypeError names what is supported otherwise.

    * backtesting.py stats: each entry as a snake_case metric (``"Return [%]"`` ->
      ``return_pct``, ``"# Trades"`` -> ``num_trades``, ``"Max. Drawdown [%]"`` ->
      ``max_drawdown_pct``, ``"Equity Final [$]"`` -> ``equity_final``); durations in
      seconds, times as UTC ISO strings, NaN as None. ``trades.csv`` (the ``_trades``
      table as backtesting.py has it) and ``equity_curve.csv`` (``time, equity,
      drawdown_pct, drawdown_duration``).
    * backtrader: see :mod:`._backtrader`.
    * vectorbt: see :mod:`._vectorbt` (untested: vectorbt is not a test dependency).
    """
    library = values.backtest_library(result)
    if library == "backtesting.py":
        from pytest_artifact_store.backtest import _backtesting

        return _backtesting.extract(result)
    if library == "backtrader":
        from pytest_artifact_store.backtest import _backtrader

        return _backtrader.extract(result)
    if library == "vectorbt":
        from pytest_artifact_store.backtest import _vectorbt

        return _vectorbt.extract(result)
    raise TypeError(
        "cannot read a backtest result from a value of type "
        f"{values.type_name(result)}{_hint(result)}; supported: {SUPPORTED_RESULTS}"
    )


def _hint(result: object) -> str:
    if values.from_package(result, "backtesting"):
        return " (pass the stats that Backtest.run() returns)"
    if values.from_package(result, "backtrader"):
        return " (pass what cerebro.run() returns, or one strategy of it)"
    return ""
