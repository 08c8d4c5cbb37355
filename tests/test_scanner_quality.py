"""The scanner, judged like the held-out evaluation: ``artifact-store scan --format json``
over generated agent projects (tests/corpus_independent.py), scored by (path, line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_independent import Quality, Truth, build_projects, judge

CLI = Path(sys.executable).with_name("artifact-store")


def scan(root: Path) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, int]]]:
    proc = subprocess.run(
        [str(CLI), "scan", "--format", "json", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = [
        (Path(item["path"]).relative_to(root).as_posix(), item["line"])
        for item in json.loads(proc.stdout)
    ]
    return proc, found


def explain(quality: Quality) -> str:
    return f"misses {quality.misses[:10]}, false alarms {quality.false_alarms[:10]}"


@pytest.mark.parametrize("seed", [101, 202])
def test_recall_and_precision_on_independent_projects(tmp_path: Path, seed: int) -> None:
    truth: Truth = build_projects(tmp_path, seed)
    proc, found = scan(tmp_path)
    assert proc.returncode == 1, proc.stderr
    quality = judge(found, truth)
    assert len(truth.locations) > 300
    assert quality.recall >= 0.97, explain(quality)
    assert quality.precision >= 0.95, explain(quality)


def test_no_output_carries_a_whole_secret(tmp_path: Path) -> None:
    truth = build_projects(tmp_path, 303, projects=2)
    assert scan(tmp_path)[1]
    for fmt in ("json", "text"):
        out = subprocess.run(
            [str(CLI), "scan", "--format", fmt, str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        leaked = [v[:4] for v in truth.values if len(v) >= 6 and v in out.stdout + out.stderr]
        assert leaked == [], f"{fmt} output shows whole secrets starting {leaked}"


def test_a_project_without_secrets_is_clean(tmp_path: Path) -> None:
    """The hard negatives alone (every line that holds a secret removed) yield nothing."""
    truth = build_projects(tmp_path, 404, projects=1)
    for rel in {path for path, _ in truth.locations}:
        file = tmp_path / rel
        lines = file.read_text(encoding="utf-8").split("\n")
        secret_lines = {line for path, line in truth.locations if path == rel}
        kept = [text for i, text in enumerate(lines, 1) if i not in secret_lines]
        file.write_text("\n".join(kept), encoding="utf-8")
    proc, found = scan(tmp_path)
    assert found == [], proc.stdout
    assert proc.returncode == 0
