"""A small event-driven backtester: signals on a bar's close fill at the next bar's open."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from rsi_strategy import BUY, SELL, RsiParams, rsi, signals

TRADING_DAYS = 252


@dataclass(frozen=True)
class Bar:
    date: str
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True)
class Trade:
    entry_date: str
    entry_price: float
    exit_date: str
    exit_price: float
    quantity: int
    pnl: float  # after commissions on both fills

    @property
    def return_pct(self) -> float:
        return 100.0 * self.pnl / (self.entry_price * self.quantity)


@dataclass
class Result:
    trades: list[Trade] = field(default_factory=list)
    equity: list[tuple[str, float]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    initial_cash: float = 0.0

    @property
    def final_equity(self) -> float:
        return self.equity[-1][1]

    def metrics(self) -> dict[str, float | int]:
        wins = [t for t in self.trades if t.pnl > 0]
        return {
            "total_trades": len(self.trades),
            "winning_trades": len(wins),
            "win_rate": round(len(wins) / len(self.trades), 4) if self.trades else 0.0,
            "net_pnl": round(sum(t.pnl for t in self.trades), 2),
            "total_return_pct": round(100.0 * (self.final_equity / self.initial_cash - 1), 4),
            "final_equity": round(self.final_equity, 2),
            "max_drawdown_pct": round(100.0 * max_drawdown([e for _, e in self.equity]), 4),
            "sharpe": round(sharpe([e for _, e in self.equity]), 4),
        }


def load_prices(path: Path) -> list[Bar]:
    with path.open(newline="", encoding="utf-8") as f:
        return [
            Bar(
                row["date"],
                float(row["open"]),
                float(row["high"]),
                float(row["low"]),
                float(row["close"]),
                int(row["volume"]),
            )
            for row in csv.DictReader(f)
        ]


def run(
    bars: Sequence[Bar],
    params: RsiParams | None = None,
    initial_cash: float = 10_000.0,
    commission: float = 1.0,
) -> Result:
    """Go all-in on BUY, flat on SELL; an open position is closed at the last close."""
    params = params or RsiParams()
    closes = [b.close for b in bars]
    orders = signals(closes, params)
    levels = rsi(closes, params.period)
    result = Result(initial_cash=initial_cash)
    result.events.append(f"{bars[0].date} START cash={initial_cash:.2f} params={params}")
    cash, quantity = initial_cash, 0
    entry: tuple[str, float] | None = None
    for i, bar in enumerate(bars):
        pending = orders[i - 1] if i > 0 else 0
        if pending == BUY and quantity == 0:
            quantity = int((cash - commission) // bar.open)
            cash -= quantity * bar.open + commission
            entry = (bar.date, bar.open)
            result.events.append(
                f"{bar.date} BUY qty={quantity} price={bar.open:.2f} rsi={levels[i - 1]:.1f}"
            )
        elif pending == SELL and quantity and entry:
            cash = _close(result, entry, bar.date, bar.open, quantity, cash, commission)
            result.events[-1] += f" rsi={levels[i - 1]:.1f}"
            quantity, entry = 0, None
        result.equity.append((bar.date, cash + quantity * bar.close))
    if quantity and entry:
        last = bars[-1]
        cash = _close(result, entry, last.date, last.close, quantity, cash, commission)
        result.events[-1] += " (end of data)"
        result.equity[-1] = (last.date, cash)
    result.events.append(f"{bars[-1].date} END equity={result.final_equity:.2f}")
    return result


def _close(
    result: Result,
    entry: tuple[str, float],
    day: str,
    price: float,
    quantity: int,
    cash: float,
    commission: float,
) -> float:
    pnl = (price - entry[1]) * quantity - 2 * commission
    result.trades.append(Trade(entry[0], entry[1], day, price, quantity, round(pnl, 2)))
    result.events.append(f"{day} SELL qty={quantity} price={price:.2f} pnl={pnl:.2f}")
    return cash + quantity * price - commission


def max_drawdown(equity: Sequence[float]) -> float:
    """Largest peak-to-trough fall, as a fraction of the peak."""
    peak, worst = -math.inf, 0.0
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, (peak - value) / peak)
    return worst


def sharpe(equity: Sequence[float]) -> float:
    """Annualised Sharpe ratio of daily returns (risk-free rate 0)."""
    returns = [b / a - 1 for a, b in pairwise(equity)]
    if len(returns) < 2:
        return 0.0
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    return 0.0 if var == 0 else mean / math.sqrt(var) * math.sqrt(TRADING_DAYS)


def write_trades(result: Result, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["entry_date", "entry_price", "exit_date", "exit_price", "quantity", "pnl"])
        for t in result.trades:
            out.writerow(
                [t.entry_date, f"{t.entry_price:.2f}", t.exit_date, f"{t.exit_price:.2f}",
                 t.quantity, f"{t.pnl:.2f}"]
            )  # fmt: skip


def write_equity_curve(result: Result, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["date", "equity"])
        out.writerows([day, f"{value:.2f}"] for day, value in result.equity)


def write_events(result: Result, path: Path) -> None:
    path.write_text("".join(line + "\n" for line in result.events), encoding="utf-8")
