"""Recall and precision of `artifact-store scan --format json` on tests/corpus_external.py.

    python benchmarks/scan_external.py [--seeds 1-8] [--limit N]

Per seed: recall, precision, counts; then the worst seed; then every miss and false alarm as
``seed path:line [kind or rule] line text`` with secret-looking runs masked to their first four
characters, and a count per kind of miss and per rule/file type of false alarm.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from corpus_external import Loc, Truth, build, judge  # noqa: E402

SCAN = [sys.executable, "-m", "pytest_artifact_store.cli", "scan", "--format", "json"]
TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.:!#*@%]{12,}")


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


def _member(root: Path, path: str) -> bytes | None:
    """Bytes of ``path`` under root, following ``outer!inner`` into zip, tar and gzip."""
    outer, _, inner = path.partition("!")
    file = root / outer
    if not file.is_file():
        return None
    data = file.read_bytes()
    if not inner:
        return gzip.decompress(data) if outer.endswith(".gz") and ".tar" not in outer else data
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.read(inner) if inner in zf.namelist() else None
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            handle = tf.extractfile(inner)
            return handle.read() if handle else None
    except (tarfile.TarError, KeyError):
        return gzip.decompress(data) if outer.endswith(".gz") else None


def line_text(root: Path, path: str, line: int) -> str:
    data = _member(root, path)
    if data is None:
        return "<unreadable>"
    lines = _decode(data).split("\n")
    return lines[line - 1] if 0 < line <= len(lines) else "<no such line>"


def mask(text: str, values: list[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 6:
            text = text.replace(value, value[:4] + "…")
    text = TOKEN.sub(lambda m: m.group(0)[:4] + "…" if "…" not in m.group(0) else m.group(0), text)
    text = text.replace("\x00", "\\0").strip()
    return text if len(text) <= 150 else text[:147] + "..."


def scan(root: Path) -> list[tuple[str, int, str]]:
    out = subprocess.run([*SCAN, str(root)], capture_output=True, text=True, check=False)
    rows = []
    for item in json.loads(out.stdout):
        path = item["path"]
        rel = Path(path).relative_to(root).as_posix() if path.startswith(str(root)) else path
        rows.append((rel, int(item["line"]), str(item.get("rule", "?"))))
    return rows


def _seeds(spec: str) -> list[int]:
    if "-" in spec:
        lo, hi = spec.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in spec.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1-8")
    parser.add_argument("--limit", type=int, default=0, help="lines of each list (0: all)")
    args = parser.parse_args()

    miss_rows: list[str] = []
    false_rows: list[str] = []
    miss_kinds: Counter[str] = Counter()
    false_kinds: Counter[str] = Counter()
    per_seed: list[tuple[int, float, float]] = []
    totals = Counter[str]()
    for seed in _seeds(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            truth: Truth = build(root, seed)
            rows = scan(root)
            quality = judge([(p, n) for p, n, _ in rows], truth)
            rules: dict[Loc, str] = {(p, n): rule for p, n, rule in rows}
            per_seed.append((seed, quality.recall, quality.precision))
            totals.update(
                hits=quality.hits,
                misses=len(quality.misses),
                false=len(quality.false_alarms),
                secrets=len(truth.locations),
            )
            print(
                f"seed {seed}: recall {quality.recall:.4f} precision {quality.precision:.4f} "
                f"({quality.hits}/{len(truth.locations)} found, {len(quality.misses)} missed, "
                f"{len(quality.false_alarms)} false alarms, {truth.files} files)"
            )
            for path, line in quality.misses:
                kind = truth.kinds.get((path, line), "?")
                miss_kinds[kind] += 1
                shown = "<archive>" if path in truth.containers else line_text(root, path, line)
                miss_rows.append(f"  s{seed} {path}:{line} [{kind}] {mask(shown, truth.values)}")
            for path, line in quality.false_alarms:
                rule = rules.get((path, line), "?")
                suffix = Path(path.split("!")[0]).suffix or Path(path).name
                false_kinds[f"{rule} in {suffix}"] += 1
                text = mask(line_text(root, path, line), truth.values)
                false_rows.append(f"  s{seed} {path}:{line} [{rule}] {text}")

    worst = min(per_seed, key=lambda row: (row[1] + row[2], row[1]))
    print(
        f"worst seed {worst[0]}: recall {worst[1]:.4f} precision {worst[2]:.4f}; "
        f"all seeds: recall {totals['hits'] / totals['secrets']:.4f} precision "
        f"{totals['hits'] / max(1, totals['hits'] + totals['false']):.4f}"
    )
    limit = args.limit or None
    print(f"\nmisses ({len(miss_rows)}), by kind:")
    for kind, count in miss_kinds.most_common():
        print(f"  {count:4d} {kind}")
    print(f"\nfalse alarms ({len(false_rows)}), by rule and file type:")
    for kind, count in false_kinds.most_common():
        print(f"  {count:4d} {kind}")
    print(f"\nmisses ({len(miss_rows)}):")
    print("\n".join(miss_rows[:limit]))
    print(f"\nfalse alarms ({len(false_rows)}):")
    print("\n".join(false_rows[:limit]))


if __name__ == "__main__":
    main()
