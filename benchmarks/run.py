"""Every benchmark of pytest-artifact-store, in one run.

    python benchmarks/run.py [--quick] [--only commit,list,history,scan,pytest]

Each section builds its own fixtures (100 and 20k tracked files; 100 and 10k artifact
versions built with `git fast-import`, and histories of 100 and 10k versions built through
the API, one prompt each, on one and on 1,000 task branches), and prints medians with
min/max over repeats and ratios against baselines measured in the same run -- these
machines are noisy, so the ratios are what count. The goals from the project's issues
are printed beside them.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_commit
import bench_history
import bench_list
import bench_pytest
import bench_scan

SECTIONS = {
    "commit": bench_commit.run,
    "list": bench_list.run,
    "history": bench_history.run,
    "scan": bench_scan.run,
    "pytest": bench_pytest.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller fixtures, fewer repeats")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args()
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, {git}, "
        f"{platform.machine()}, quick={args.quick}"
    )
    for name in args.only.split(","):
        start = time.monotonic()
        lines = SECTIONS[name](args.quick)
        print("\n".join(lines))
        print(f"  ({name}: {time.monotonic() - start:.0f} s)\n", flush=True)


if __name__ == "__main__":
    main()
