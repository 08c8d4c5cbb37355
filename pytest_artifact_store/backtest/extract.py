"""``extract(result)``: a backtest library's result as metrics and files, ready to commit.

The libraries are optional and never imported here: a result is recognised by the module
its class comes from (see :func:`.values.backtest_library`) and read through its own API.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_artifact_store.backtest import values

SUPPORTED_RESULTS = (
    "backtesting.py's stats (what Backtest.run() returns), a backtrader strategy "
    "(an element of cerebro.run()'s list) or that list, a vectorbt Portfolio"
)


@dataclass(frozen=True)
class BacktestRecord:
    """What a backtest produced: JSON ``metrics`` and ``files`` (name -> CSV bytes)."""

    library: str
    metrics: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def write(self, directory: str | Path) -> list[Path]:
        """Write :attr:`files` into ``directory`` (created if needed); returns their paths."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in self.files.items():
            path = target / name
            path.write_bytes(data)
            paths.append(path)
        return paths


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
        return _backtesting(result)
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


_WORDS = (("[%]", " pct "), ("%", " pct "), ("[$]", " "), ("#", " num "), ("&", " and "))


def snake_case(label: object) -> str:
    """A stats label as a metric name: ``"Max. Drawdown [%]"`` -> ``max_drawdown_pct``.

    ``[%]`` -> ``pct``, ``[$]`` dropped, ``#`` -> ``num``, ``&`` -> ``and``, camelCase split,
    every other run of non-alphanumerics -> ``_``, lower case.
    """
    text = str(label)
    for old, new in _WORDS:
        text = text.replace(old, new)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)  # DrawdownPct -> Drawdown_Pct
    name = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    if not name:
        raise ValueError(f"the label {label!r} gives no metric name")
    return name


def stats_metrics(stats: Any, what: str) -> dict[str, Any]:
    """A stats Series (backtesting.py, vectorbt) as metrics; ``_``-prefixed entries skipped."""
    metrics: dict[str, Any] = {}
    labels: dict[str, object] = {}
    for label, value in stats.items():
        if str(label).startswith("_"):
            continue  # backtesting.py's _strategy, _trades, _equity_curve
        name = snake_case(label)
        if name in labels:
            raise ValueError(f"{what}: {labels[name]!r} and {label!r} both give the name {name!r}")
        labels[name] = label
        metrics[name] = values.to_json(value, what=f"{what}[{label!r}]", missing_to_none=True)
    return metrics


def equity_csv(equity: Any) -> bytes:
    """An equity Series or DataFrame (time index) as CSV: ``time, equity, ...``."""
    frame = equity.to_frame() if equity.ndim == 1 else equity.copy()
    columns = [snake_case(c) for c in frame.columns]
    columns[0] = "equity"  # backtesting.py: Equity; vectorbt: the portfolio's name
    frame.columns = columns
    for column in columns:
        if str(frame[column].dtype).startswith("timedelta"):
            frame[column] = frame[column].dt.total_seconds()
    return str(frame.to_csv(index_label="time")).encode()


def rows_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """Plain rows as CSV (no pandas needed: backtrader does not require it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue().encode()


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        if value.time() == datetime.min.time() and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    return value


def _backtesting(stats: Any) -> BacktestRecord:
    files: dict[str, bytes] = {}
    trades = stats.get("_trades")
    if values.is_table(trades):
        files["trades.csv"] = values.table_csv(trades)
    equity = stats.get("_equity_curve")
    if values.is_table(equity):
        files["equity_curve.csv"] = equity_csv(equity)
    return BacktestRecord("backtesting.py", stats_metrics(stats, "stats"), files)
