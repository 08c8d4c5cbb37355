"""Recall and precision of `artifact-store scan --format json` on generated corpora.

    python benchmarks/scan_quality.py

Two generators, both under tests/: corpus.py (backtest artifact directories) and
corpus_independent.py (agent projects, written separately to catch the first one's blind
spots). Secrets are synthesised at run time; scoring is by (path, line).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from corpus import generate_corpus, score  # noqa: E402
from corpus_independent import build_projects, judge  # noqa: E402

SCAN = [sys.executable, "-m", "pytest_artifact_store.cli", "scan", "--format", "json"]


def _found(root: Path) -> list[tuple[str, int]]:
    out = subprocess.run([*SCAN, str(root)], capture_output=True, text=True, check=False)
    return [(str(Path(f["path"]).relative_to(root)), f["line"]) for f in json.loads(out.stdout)]


def main() -> None:
    tp = fp = fn = 0
    for seed in range(100, 108):
        with tempfile.TemporaryDirectory() as tmp:
            made = generate_corpus(Path(tmp), seed)
            s = score(_found(Path(tmp)), made)
            tp, fp, fn = tp + s.true_positives, fp + s.false_positives, fn + s.false_negatives
    print(
        f"tests/corpus.py seeds 100-107: recall {tp / (tp + fn):.4f} precision "
        f"{tp / (tp + fp):.4f} ({tp} found, {fp} false, {fn} missed)"
    )
    hits = false = missed = 0
    for seed in range(1, 9):
        with tempfile.TemporaryDirectory() as tmp:
            truth = build_projects(Path(tmp), seed)
            q = judge(_found(Path(tmp)), truth)
            hits, false, missed = hits + q.hits, false + len(q.false_alarms), missed + len(q.misses)
    print(
        f"tests/corpus_independent.py seeds 1-8: recall {hits / (hits + missed):.4f} precision "
        f"{hits / (hits + false):.4f} ({hits} found, {false} false, {missed} missed)"
    )


if __name__ == "__main__":
    main()
