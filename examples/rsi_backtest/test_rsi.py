from __future__ import annotations

from itertools import pairwise

import pytest
from rsi_strategy import BUY, HOLD, SELL, RsiParams, rsi, signals

# Wilder's RSI worked example as published by StockCharts (ChartSchool, "RSI"): closes and
# the RSI(14) of the last six of them. StockCharts rounds the first averages to two
# decimals (0.24 and 0.10), so its values sit up to 0.07 above the exact ones.
CLOSES = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08,
          45.89, 46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64]  # fmt: skip
PUBLISHED = [70.53, 66.32, 66.55, 69.41, 66.36, 57.97]


def test_rsi_matches_the_published_worked_example() -> None:
    values = rsi(CLOSES, 14)
    assert values[:14] == [None] * 14
    assert values[14:] == pytest.approx(PUBLISHED, abs=0.1)
    assert round(values[14], 2) == 70.46  # exact averages 0.2386 / 0.0996


@pytest.mark.parametrize(
    ("closes", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 100.0),
        ([4.0, 3.0, 2.0, 1.0], 0.0),
        ([5.0, 5.0, 5.0, 5.0], 50.0),
    ],
)
def test_rsi_extremes(closes: list[float], expected: float) -> None:
    assert rsi(closes, 3)[-1] == expected


def test_rsi_stays_between_0_and_100(bars: list) -> None:
    values = [v for v in rsi([b.close for b in bars], 7) if v is not None]
    assert len(values) == len(bars) - 7
    assert all(0.0 <= v <= 100.0 for v in values)


def test_signals_alternate_buy_then_sell(bars: list) -> None:
    orders = [s for s in signals([b.close for b in bars], RsiParams()) if s != HOLD]
    assert orders[0] == BUY
    assert all(a != b for a, b in pairwise(orders))
    assert orders.count(BUY) - orders.count(SELL) in (0, 1)


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="period"):
        rsi([1.0, 2.0], 0)
