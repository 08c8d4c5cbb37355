"""A long-only RSI mean-reversion strategy: buy when RSI(7) is oversold, sell when overbought.

This is the file an agent pipeline would generate; the tests backtest it and, when they
pass, `pytest --artifact-store` commits it together with the backtest's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

BUY = 1
SELL = -1
HOLD = 0


@dataclass(frozen=True)
class RsiParams:
    period: int = 7
    oversold: float = 30.0
    overbought: float = 70.0
    max_hold: int = 15  # bars; a time stop, so a losing position cannot be held forever


def rsi(closes: Sequence[float], period: int = 14) -> list[float | None]:
    """Wilder's relative strength index; None until ``period`` changes are known."""
    if period < 1:
        raise ValueError("period must be at least 1")
    values: list[float | None] = [None] * len(closes)
    if len(closes) <= period:
        return values
    changes = [b - a for a, b in pairwise(closes)]
    avg_gain = sum(max(c, 0.0) for c in changes[:period]) / period
    avg_loss = sum(max(-c, 0.0) for c in changes[:period]) / period
    values[period] = _index(avg_gain, avg_loss)
    for i in range(period + 1, len(closes)):
        change = changes[i - 1]
        avg_gain = (avg_gain * (period - 1) + max(change, 0.0)) / period
        avg_loss = (avg_loss * (period - 1) + max(-change, 0.0)) / period
        values[i] = _index(avg_gain, avg_loss)
    return values


def _index(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0.0:
        return 100.0 if avg_gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def signals(closes: Sequence[float], params: RsiParams | None = None) -> list[int]:
    """BUY when flat and RSI < oversold; SELL when long and RSI > overbought or after
    ``max_hold`` bars; else HOLD."""
    params = params or RsiParams()
    out = [HOLD] * len(closes)
    entered: int | None = None
    for i, value in enumerate(rsi(closes, params.period)):
        if value is None:
            continue
        if entered is None and value < params.oversold:
            out[i], entered = BUY, i
        elif entered is not None and (value > params.overbought or i - entered >= params.max_hold):
            out[i], entered = SELL, None
    return out
