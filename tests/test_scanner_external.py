"""The scanner judged from outside: ``artifact-store scan --format json`` over a quant/backtest
repository built by tests/corpus_external.py (secrets and hard look-alikes in many languages
and formats, plus archives and odd encodings), scored by (path, line)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from corpus_external import Loc, Quality, Truth, build, judge

CLI = Path(sys.executable).with_name("artifact-store")


def relative(path: str, root: Path) -> str:
    for base in (root, root.resolve()):
        try:
            return Path(path).relative_to(base).as_posix()
        except ValueError:
            continue
    return Path(path).as_posix()


def scan(root: Path, fmt: str = "json") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "scan", "--format", fmt, str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


def findings(proc: subprocess.CompletedProcess[str], root: Path) -> list[Loc]:
    return [(relative(item["path"], root), int(item["line"])) for item in json.loads(proc.stdout)]


def explain(quality: Quality, truth: Truth) -> str:
    misses = [f"{p}:{n} ({truth.kinds.get((p, n), '?')})" for p, n in quality.misses[:15]]
    false = [f"{p}:{n}" for p, n in quality.false_alarms[:15]]
    return (
        f"recall {quality.recall:.3f} precision {quality.precision:.3f}; "
        f"{len(quality.misses)} misses, first: {misses}; "
        f"{len(quality.false_alarms)} false alarms, first: {false}"
    )


@pytest.mark.parametrize("seed", [11, 23, 37])
def test_recall_and_precision_on_an_agent_repository(tmp_path: Path, seed: int) -> None:
    truth = build(tmp_path, seed)
    proc = scan(tmp_path)
    assert proc.returncode == 1, proc.stderr
    quality = judge(findings(proc, tmp_path), truth)
    assert quality.recall >= 0.97, explain(quality, truth)
    assert quality.precision >= 0.95, explain(quality, truth)


def test_no_output_carries_a_whole_secret(tmp_path: Path) -> None:
    truth = build(tmp_path, 5)
    leaked: dict[str, list[str]] = {}
    for fmt in ("json", "text"):
        proc = scan(tmp_path, fmt)
        assert proc.returncode == 1, proc.stderr
        out = proc.stdout + proc.stderr
        shown = [v[:4] + "…" for v in truth.values if len(v) >= 8 and v in out]
        if shown:
            leaked[fmt] = shown
    assert leaked == {}, f"output shows whole secrets starting {leaked}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_corpus_is_large_and_quick_to_build(tmp_path: Path, seed: int) -> None:
    started = time.perf_counter()
    truth = build(tmp_path, seed)
    elapsed = time.perf_counter() - started
    assert len(truth.locations) >= 300
    assert truth.files >= 40
    assert elapsed < 3.0, f"building seed {seed} took {elapsed:.2f}s"
    assert len({path for path, _ in truth.locations}) >= 40
