"""Secret-scanner throughput on CSV/log-heavy artifacts, against grep -E and detect-secrets.

    python benchmarks/bench_scan.py [--quick] [--size-mb N]

Three corpora: a trades-CSV / event-log mix (tests/corpus.py, with a few synthetic
secrets), and two dense ones where keywords are on every row -- a crypto trades CSV with a
``token`` column, and a log with ``token=ETH`` on every line. Reports MB/s as median
(min, max) over repeats for:
  scanner          Scanner().scan_file(...) -- the full scan, findings included
  grep -E          grep -E -i -c over the scanner's prefilter keywords and provider prefixes
                   (a lower bound: it only finds lines, it judges nothing)
  detect-secrets   detect-secrets' default plugins, when it is importable
Ratios are taken within the same run (the machines are noisy; the ratios are what count).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from common import Timing, measure  # noqa: E402
from corpus import bulk_corpus  # noqa: E402

from pytest_artifact_store.scan import Scanner, engine, rules  # noqa: E402

MB = 1_000_000


def grep_keywords() -> list[str]:
    """The prefilter keywords plus each provider rule's leading literal."""
    words = [k.decode() for k in engine.KEYWORDS]
    for provider in rules.PROVIDERS:
        m = re.match(rb"(?:[A-Za-z0-9:_-]|\\\.)+", provider.pattern)
        if m:
            words.append(m.group().replace(b"\\", b"").decode())
    return sorted(set(words))


def _mbps(size: int, t: Timing) -> str:
    rates = sorted(size / MB / s for s in t.samples)
    med = size / MB / t.median
    return f"{med:8.1f} MB/s  (min {rates[0]:.1f}, max {rates[-1]:.1f}, n={len(rates)})"


def _detect_secrets_scan(path: Path) -> object | None:
    try:
        from detect_secrets import SecretsCollection  # type: ignore[import-not-found]
        from detect_secrets.settings import default_settings  # type: ignore[import-not-found]
    except ImportError:
        return None

    def run() -> None:
        with default_settings():
            collection = SecretsCollection()
            collection.scan_file(str(path))

    return run


def dense_csv(size: int, seed: int = 2) -> bytes:
    """A crypto trades CSV with a ``token`` column on every row (BTC, ETH, ...)."""
    rng = random.Random(seed)
    rows = ["ts,venue,symbol,side,qty,price,token,fee_token,order_id"]
    n = 0
    while n < size:
        row = (
            f"2024-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
            f":00Z,binance,{rng.choice(['BTCUSDT', 'ETHUSDT', 'SOLUSDT'])},"
            f"{rng.choice(['buy', 'sell'])},{rng.random():.5f},{rng.uniform(10, 70000):.2f},"
            f"{rng.choice(['BTC', 'ETH', 'SOL', 'USDT'])},BNB,{rng.randint(10**9, 10**10)}"
        )
        rows.append(row)
        n += len(row) + 1
    return ("\n".join(rows) + "\n").encode()


def dense_log(size: int, seed: int = 3) -> bytes:
    """An event log with ``token=`` and ``api_key_id=`` on every line."""
    rng = random.Random(seed)
    lines = []
    n = 0
    while n < size:
        line = (
            f"2024-03-01 10:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} INFO fill "
            f"token={rng.choice(['ETH', 'BTC', 'SOL'])} qty={rng.random():.4f} "
            f"price={rng.uniform(10, 4000):.2f} auth=ok api_key_id={rng.randint(1, 9)}"
        )
        lines.append(line)
        n += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def run(quick: bool = False, size_mb: float | None = None) -> list[str]:
    size = int((size_mb if size_mb is not None else (4 if quick else 20)) * MB)
    repeat = 3 if quick else 5
    out = [f"secret scan: {size / MB:.0f} MB per corpus, repeat={repeat}"]
    corpora = (
        ("mixed trades CSV + event log", "bulk.log", lambda: bulk_corpus(size, seed=1)),
        ("dense: trades CSV, token column", "trades.csv", lambda: dense_csv(size)),
        ("dense: log, token= on every line", "events.log", lambda: dense_log(size)),
    )
    grep = shutil.which("grep")
    pattern = "|".join(re.escape(w) for w in grep_keywords())
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        for title, name, make in corpora:
            path = Path(tmp) / name
            path.write_bytes(make())
            real = path.stat().st_size
            scanner = Scanner()
            findings = scanner.scan_file(path)
            ours = measure("scanner", lambda s=scanner, p=path: s.scan_file(p), repeat)
            out.append(f"{title}:")
            out.append(
                f"  {'scanner (artifact-store)':<28} {_mbps(real, ours)}  findings={len(findings)}"
            )
            timings = {"scanner": ours}
            if grep:
                cmd = [grep, "-E", "-i", "-c", pattern, str(path)]
                t = measure(
                    "grep",
                    lambda c=cmd: subprocess.run(c, capture_output=True, check=False),
                    repeat,
                )
                timings["grep -E"] = t
                out.append(f"  {'grep -E -i (same keywords)':<28} {_mbps(real, t)}")
            if name == "bulk.log":
                # detect-secrets runs at well under 1 MB/s: time it on a 1 MB slice
                small = Path(tmp) / "slice.log"
                small_size = min(real, MB)
                small.write_bytes(path.read_bytes()[:small_size])
                ds = _detect_secrets_scan(small)
                if ds is not None:
                    t = measure("detect-secrets", ds, 1 if quick else 2, warmup=0)  # type: ignore[arg-type]
                    timings["detect-secrets"] = Timing(
                        t.name, [x * real / small_size for x in t.samples]
                    )
                    out.append(f"  {'detect-secrets (1 MB slice)':<28} {_mbps(small_size, t)}")
                else:
                    out.append("  detect-secrets               not installed")
            for other, t in timings.items():
                if other != "scanner":
                    speed = t.median / ours.median
                    out.append(f"  scanner speed / {other:<20} {speed:7.2f}x")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 MB, fewer repeats")
    parser.add_argument("--size-mb", type=float, default=None, help="corpus size in MB")
    args = parser.parse_args()
    print("\n".join(run(quick=args.quick, size_mb=args.size_mb)))


if __name__ == "__main__":
    main()
