"""Regenerate prices.csv: 500 business days of a synthetic, mildly mean-reverting stock.

Deterministic (seeded), so the bundled file and the tests' expected numbers never drift.
Run: python make_prices.py > prices.csv
"""

from __future__ import annotations

import math
import random
import sys
from datetime import date, timedelta

SEED = 20240601
DAYS = 500


def business_days(start: date, count: int) -> list[date]:
    days: list[date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def main() -> int:
    rng = random.Random(SEED)
    out = sys.stdout
    out.write("date,open,high,low,close,volume\n")
    log_close = math.log(100.0)
    close = 100.0
    for i, day in enumerate(business_days(date(2023, 1, 2), DAYS)):
        # Daily noise around a slowly rising anchor with a ~60-day cycle, pulled back 5 %
        # of the gap each day: oversold dips that often (not always) recover.
        anchor = math.log(100.0) + 0.0003 * i + 0.03 * math.sin(2 * math.pi * i / 60)
        log_close += 0.05 * (anchor - log_close) + rng.gauss(0.0, 0.014)
        open_ = close * math.exp(rng.gauss(0.0, 0.004))
        close = math.exp(log_close)
        high = max(open_, close) * (1 + abs(rng.gauss(0.0, 0.005)))
        low = min(open_, close) * (1 - abs(rng.gauss(0.0, 0.005)))
        volume = int(1_000_000 * math.exp(rng.gauss(0.0, 0.25)))
        out.write(f"{day.isoformat()},{open_:.2f},{high:.2f},{low:.2f},{close:.2f},{volume}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
