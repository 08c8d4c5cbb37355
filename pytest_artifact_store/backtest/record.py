"""What a backtest produced, and the conversions the readers of every library share."""

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
