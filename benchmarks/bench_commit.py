"""commit_artifacts in one process (the plugin's case) vs a naive porcelain run and the floor.

    python benchmarks/bench_commit.py [--quick]

For each repository size (100 and 20k tracked files) it commits the seed's 6-file ~1 MB
artifact set onto a task branch, many times, and prints medians and ratios against
baselines measured in the same run:
  naive   checkout / cp / add / commit / tag / checkout-back with the git CLI
  floor   hashing and zlib-compressing the artifact bytes as git's loose objects do
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import tempfile
import zlib
from pathlib import Path

from common import Timing, artifact_set, cli, git, isolate_home, make_repo, measure, ratio_line

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig


def physical_floor(data: list[bytes]) -> None:
    for blob in data:
        h = hashlib.sha1(b"blob %d\0" % len(blob))
        h.update(blob)
        h.hexdigest()
        zlib.compress(blob, 1)


def naive_commit(repo: Path, files: list[Path], n: int) -> None:
    branch = "ai/generated/naive/task_001"
    exists = git(repo, "branch", "--list", branch)
    git(repo, "checkout", "-q", branch) if exists else git(repo, "checkout", "-q", "-b", branch)
    dest = repo / "Backtest" / "codes" / "task_001"
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, dest / f.name)
    (dest / "metadata.json").write_text(f'{{"run": {n}}}\n')
    git(repo, "add", "Backtest/codes/task_001")
    git(repo, "commit", "-q", "-m", f"artifacts(naive/task_001): corr_naive{n}")
    git(repo, "tag", "-a", f"corr_naive{n}", "-m", "naive")
    git(repo, "checkout", "-q", "main")


def run(quick: bool = False) -> list[str]:
    home = isolate_home()
    repeat = 7 if quick else 21
    sizes = (100, 5000) if quick else (100, 20000)
    lines = ["commit_artifacts: 6-file ~1 MB artifact set, in-process"]
    with tempfile.TemporaryDirectory(prefix="bench-commit-") as tmp:
        arts = artifact_set(Path(tmp, "artifacts"))
        data = [f.read_bytes() for f in arts]
        lines.append(f"  artifact bytes: {sum(map(len, data))}")
        floor = measure("floor", lambda: physical_floor(data), repeat * 2)
        results: dict[int, dict[str, Timing]] = {}
        counter = itertools.count()
        for size in sizes:
            repo = make_repo(Path(tmp, f"repo{size}"), size)
            cfg = dict(repo_path=repo, auto_push=False)
            on = ArtifactStore(ArtifactStoreConfig(**cfg))  # type: ignore[arg-type]
            off = ArtifactStore(ArtifactStoreConfig(scan_for_secrets=False, **cfg))  # type: ignore[arg-type]
            results[size] = {
                "scan on": measure(
                    "on",
                    lambda s=on: s.commit_artifacts(
                        "wf", "task_001", arts, correlation_id=f"c{next(counter)}"
                    ),
                    repeat,
                ),
                "scan off": measure(
                    "off",
                    lambda s=off: s.commit_artifacts(
                        "wf", "task_002", arts, correlation_id=f"c{next(counter)}"
                    ),
                    repeat,
                ),
                "naive": measure(
                    "naive",
                    lambda r=repo: naive_commit(r, arts, next(counter)),
                    max(5, repeat // 3),
                ),
            }
            on.close()
            off.close()
        lines.append(f"  {'physical floor (sha1 + zlib level 1)':<40} {floor.cell()}")
        for size, res in results.items():
            for name, t in res.items():
                lines.append(f"  {size:>6} files  {name:<26} {t.cell()}")
        small, large = results[sizes[0]], results[sizes[1]]
        lines.append("  ratios (same run):")
        lines.append(
            ratio_line(
                "scan off / physical floor (large repo)", large["scan off"], floor, "goal <= 1.5"
            )
        )
        lines.append(
            ratio_line(
                "naive / scan on (large repo): speed-up",
                large["naive"],
                large["scan on"],
                "goal >= 5",
            )
        )
        lines.append(
            ratio_line(
                "scan on: large / small repo", large["scan on"], small["scan on"], "goal <= 1.2"
            )
        )
        lines.append(
            ratio_line("scan off: large / small repo", large["scan off"], small["scan off"], "")
        )
    home.cleanup()
    return lines


def main() -> None:
    cli(run, __doc__)


if __name__ == "__main__":
    main()
