"""Two small real backtests, run both by pytester sessions (copied into them) and by the tests
that check what those sessions committed."""

from __future__ import annotations

import warnings
from typing import Any


def run_backtesting_py() -> Any:
    """backtesting.py's own example: SmaCross(10, 20) on its bundled GOOG data."""
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import GOOG, SMA

    class SmaCross(Strategy):
        n1 = 10
        n2 = 20

        def init(self) -> None:
            self.ma1 = self.I(SMA, self.data.Close, self.n1)
            self.ma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.ma1, self.ma2):
                self.position.close()
                self.buy()
            elif crossover(self.ma2, self.ma1):
                self.position.close()
                self.sell()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # margin notes, bokeh and pandas deprecations
        return Backtest(GOOG, SmaCross, cash=10_000, commission=0.002).run()


def price_frame() -> Any:
    """300 business days of a seeded random walk, as backtrader's PandasData wants it."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    index = pd.date_range("2023-01-02", periods=300, freq="B")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(index))))
    return pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1000},
        index=index,
    )


def run_backtrader() -> Any:
    """An SMA(5)/SMA(20) crossover with the analyzers record_backtest reads; cerebro.run()."""
    import backtrader as bt

    class SmaCross(bt.Strategy):
        params = (("fast", 5), ("slow", 20))

        def __init__(self) -> None:
            fast = bt.ind.SMA(period=self.p.fast)
            slow = bt.ind.SMA(period=self.p.slow)
            self.cross = bt.ind.CrossOver(fast, slow)

        def next(self) -> None:
            if self.cross > 0:
                self.close()
                self.buy()
            elif self.cross < 0:
                self.close()
                self.sell()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=price_frame()))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(10_000)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe")
    cerebro.addanalyzer(bt.analyzers.Returns, _name="returns")
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="time_return")
    cerebro.addanalyzer(bt.analyzers.Transactions, _name="transactions")
    return cerebro.run()
