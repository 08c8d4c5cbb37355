"""backtrader: a finished strategy's analyzers and broker as metrics and files.

Each attached analyzer is read by its class (subclasses too); others are ignored:

* ``TradeAnalyzer``: ``num_trades`` (open and closed), ``num_trades_closed``,
  ``num_trades_open``, ``num_won``, ``num_lost``, ``win_rate_pct`` (won / closed),
  ``pnl_net``, ``pnl_gross``, ``pnl_net_avg``, ``longest_win_streak``, ``longest_loss_streak``;
* ``DrawDown``: ``max_drawdown_pct``, ``max_drawdown_money``, ``max_drawdown_len`` (bars);
* ``SharpeRatio``: ``sharpe_ratio``; ``SharpeRatio_A``: ``sharpe_ratio_annual``;
* ``Returns``: ``returns_rtot``, ``returns_ravg``, ``returns_rnorm``, ``returns_rnorm100``;
* ``SQN``: ``sqn``, ``sqn_trades``; ``VWR``: ``vwr``;
* ``TimeReturn``: ``equity_curve.csv`` (``time, return, equity``): the broker's starting
  cash compounded by the returns, or the growth of 1 when the analyzer follows a data
  feed (``data=``) or the broker has no ``startingcash``;
* ``Transactions``: ``transactions.csv`` (``time, size, price, sid, symbol, value``).

The broker gives ``start_value`` and ``final_value``. backtrader's own analyzers keep no
list of round-trip trades, so there is no ``trades.csv``: attach ``Transactions`` for the
fills. A second analyzer of a class already read has its metrics and file prefixed with
its name (``addanalyzer(..., _name="dd_weekly")`` -> ``dd_weekly_max_drawdown_pct``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pytest_artifact_store.backtest import values
from pytest_artifact_store.backtest.record import BacktestRecord, rows_csv

Reading = tuple[dict[str, Any], dict[str, bytes]]


def extract(result: Any) -> BacktestRecord:
    strategy = _one_strategy(result)
    metrics: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    seen: set[str] = set()
    for name, analyzer in zip(strategy.analyzers.getnames(), strategy.analyzers, strict=True):
        reader = _reader(analyzer)
        if reader is None:
            continue
        read_metrics, read_files = reader[1](analyzer)
        prefix = f"{name}_" if reader[0] in seen else ""
        seen.add(reader[0])
        metrics.update({prefix + key: value for key, value in read_metrics.items()})
        files.update({prefix + key: data for key, data in read_files.items()})
    broker = getattr(strategy, "broker", None)
    if broker is not None:
        start = _starting_cash(strategy)
        if start is not None:
            metrics["start_value"] = start
        metrics["final_value"] = broker.getvalue()
    what = f"the {values.type_name(strategy)} strategy's analyzers"
    return BacktestRecord(
        "backtrader", values.to_json(metrics, what=what, missing_to_none=True), files
    )


def _one_strategy(result: Any) -> Any:
    if not isinstance(result, list):
        return result
    if len(result) != 1:
        raise ValueError(
            f"cerebro.run() returned {len(result)} strategies: record each one "
            "(record_backtest(strategy, prefix=...))"
        )
    return result[0]


def _reader(analyzer: object) -> tuple[str, Callable[[Any], Reading]] | None:
    for cls in type(analyzer).__mro__:
        if cls.__module__.startswith("backtrader.") and cls.__name__ in _READERS:
            return cls.__name__, _READERS[cls.__name__]
    return None


def _dig(analysis: object, *keys: str) -> Any:
    """``analysis[k1][k2]...`` or None; never creates keys (AutoOrderedDict would)."""
    for key in keys:
        if not isinstance(analysis, Mapping) or key not in analysis:
            return None
        analysis = analysis[key]
    return None if isinstance(analysis, Mapping) else analysis


def _trade_analyzer(analyzer: Any) -> Reading:
    a = analyzer.get_analysis()
    closed = _dig(a, "total", "closed") or 0
    won = _dig(a, "won", "total") or 0
    metrics = {
        "num_trades": _dig(a, "total", "total") or 0,
        "num_trades_closed": closed,
        "num_trades_open": _dig(a, "total", "open") or 0,
        "num_won": won,
        "num_lost": _dig(a, "lost", "total") or 0,
        "win_rate_pct": 100.0 * won / closed if closed else None,
        "pnl_net": _dig(a, "pnl", "net", "total"),
        "pnl_gross": _dig(a, "pnl", "gross", "total"),
        "pnl_net_avg": _dig(a, "pnl", "net", "average"),
        "longest_win_streak": _dig(a, "streak", "won", "longest"),
        "longest_loss_streak": _dig(a, "streak", "lost", "longest"),
    }
    return metrics, {}


def _drawdown(analyzer: Any) -> Reading:
    a = analyzer.get_analysis()
    return {
        "max_drawdown_pct": _dig(a, "max", "drawdown"),
        "max_drawdown_money": _dig(a, "max", "moneydown"),
        "max_drawdown_len": _dig(a, "max", "len"),
    }, {}


def _keys(**names: str) -> Callable[[Any], Reading]:
    """A reader taking ``{metric: analysis key}`` from a flat analysis."""

    def read(analyzer: Any) -> Reading:
        a = analyzer.get_analysis()
        return {metric: _dig(a, key) for metric, key in names.items()}, {}

    return read


def _time_return(analyzer: Any) -> Reading:
    returns = analyzer.get_analysis()
    start = None if getattr(analyzer.p, "data", None) is not None else _starting_cash(analyzer)
    value = float(start) if start is not None else 1.0
    rows = []
    for when, change in returns.items():
        value *= 1.0 + change
        rows.append((when, change, value))
    return {}, {"equity_curve.csv": rows_csv(("time", "return", "equity"), rows)}


def _transactions(analyzer: Any) -> Reading:
    rows = [
        (when, *fill)
        for when, fills in analyzer.get_analysis().items()
        for fill in fills  # [size, price, sid, symbol, value]
    ]
    header = ("time", "size", "price", "sid", "symbol", "value")
    return {}, {"transactions.csv": rows_csv(header, rows)}


def _starting_cash(owner: Any) -> float | None:
    """The broker's starting cash, from a strategy or an analyzer (its ``strategy``)."""
    strategy = getattr(owner, "strategy", owner)
    cash = getattr(getattr(strategy, "broker", None), "startingcash", None)
    return float(cash) if isinstance(cash, (int, float)) else None


_READERS: dict[str, Callable[[Any], Reading]] = {
    "TradeAnalyzer": _trade_analyzer,
    "DrawDown": _drawdown,
    "SharpeRatio_A": _keys(sharpe_ratio_annual="sharperatio"),
    "SharpeRatio": _keys(sharpe_ratio="sharperatio"),
    "Returns": _keys(
        returns_rtot="rtot", returns_ravg="ravg", returns_rnorm="rnorm", returns_rnorm100="rnorm100"
    ),
    "SQN": _keys(sqn="sqn", sqn_trades="trades"),
    "VWR": _keys(vwr="vwr"),
    "TimeReturn": _time_return,
    "Transactions": _transactions,
}
