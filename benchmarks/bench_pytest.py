"""pytest on the example backtest: plugin removed, installed but off, and --artifact-store.

    python benchmarks/bench_pytest.py [--quick]

Each figure is the wall time of a whole `python -m pytest` process (median over repeats);
the baseline is the same session with the plugin removed (`-p no:artifact_store`). What
``--artifact-store`` adds is set beside the naive way to record the same files: a shell
script of git commands (check out the task branch, copy, add, commit, tag, check out
back), timed as a whole process in the same run.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import cli, git, git_env, interleaved, isolate_home

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rsi_backtest"

# The naive recording: what a user would script around plain git.
NAIVE_SCRIPT = """set -e
cd "$1"
branch=ai/generated/naive/task
if git rev-parse -q --verify "refs/heads/$branch" >/dev/null; then
  git checkout -q "$branch"
else
  git checkout -q -b "$branch"
fi
mkdir -p Backtest/codes/task
cp "$2"/* Backtest/codes/task/
printf '{"correlation_id": "%s"}\\n' "$3" > Backtest/codes/task/metadata.json
git add Backtest/codes/task
git commit -q -m "artifacts(naive/task): $3"
git tag -a "corr_$3" -m "$3"
git checkout -q main
"""


def _repository(path: Path) -> Path:
    """A repository with one commit on main (a README), as a project starts."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("demo\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "init")
    return path


def run(quick: bool = False) -> list[str]:
    home = isolate_home()
    repeat = 5 if quick else 11
    lines = ["pytest on examples/rsi_backtest (whole process, wall time)"]
    with tempfile.TemporaryDirectory(prefix="bench-pytest-") as tmp:
        project = Path(tmp, "example")
        shutil.copytree(
            EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
        )
        repo = _repository(Path(tmp, "repo"))
        # hypothesis's plugin alone costs ~0.9 s per session here: leave it out of all runs
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        base += ["-p", "no:hypothesispytest"]
        counter = itertools.count()

        # As on a user's machine, Python caches bytecode (some CI images turn that off;
        # then every session recompiles pytest and the plugin from source).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

        def session(*extra: str) -> None:
            proc = subprocess.run(
                [*base, *extra], cwd=project, capture_output=True, check=False, env=env
            )
            if proc.returncode != 0:
                raise SystemExit(f"pytest failed ({proc.returncode}):\n{proc.stdout.decode()}")

        # Without the plugin the fixture-using test cannot run: both baselines skip it.
        skip = "--deselect=test_backtest.py::test_outputs_are_written"
        variants: dict[str, Callable[[], None]] = {
            "removed": lambda: session("-p", "no:artifact_store", skip),
            "off_same": lambda: session(skip),
            "off": lambda: session(),
            "on": lambda: session(
                "--artifact-store",
                f"--artifact-repo={repo}",
                f"--artifact-correlation-id=bench{next(counter)}",
                "--artifact-no-push",
            ),
        }
        session("--artifact-store", f"--artifact-repo={repo}", "--artifact-correlation-id=x")
        # the naive script records the files that run committed, into a repo of its own
        files = Path(tmp, "files")
        files.mkdir()
        task = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/ai/generated/")
        listing = git(repo, "ls-tree", "-r", "--name-only", task)
        for name in listing.splitlines():
            Path(files, Path(name).name).write_bytes(
                subprocess.run(
                    ["git", "show", f"{task}:{name}"], cwd=repo, capture_output=True, check=True
                ).stdout
            )
        naive_repo = _repository(Path(tmp, "naive"))
        script = Path(tmp, "naive.sh")
        script.write_text(NAIVE_SCRIPT)

        def naive() -> None:
            subprocess.run(
                ["bash", str(script), str(naive_repo), str(files), f"n{next(counter)}"],
                check=True,
                env=git_env(),
            )

        variants["on, scan off"] = lambda: session(
            "--artifact-store",
            f"--artifact-repo={repo}",
            f"--artifact-correlation-id=bench{next(counter)}",
            "--artifact-no-push",
            "--artifact-no-scan-secrets",
        )
        variants["naive git script"] = naive
        # The example's tests take ~60 ms, less than the store's worker needs to start;
        # the same project with one more test that computes for ~0.3 s, as a backtest of
        # realistic length does, shows what a session pays once the worker's start-up
        # is hidden behind the tests.
        longer = Path(tmp, "example-long")
        shutil.copytree(project, longer)
        (longer / "test_zz_long.py").write_text(
            "import time\n\n\ndef test_long_backtest():\n"
            "    end, x = time.process_time() + 0.3, 0\n"
            "    while time.process_time() < end:\n"
            "        x += 1\n"
        )

        def session_long(*extra: str) -> None:
            proc = subprocess.run(
                [*base, *extra], cwd=longer, capture_output=True, check=False, env=env
            )
            if proc.returncode != 0:
                raise SystemExit(f"pytest failed ({proc.returncode}):\n{proc.stdout.decode()}")

        variants["long, off"] = lambda: session_long()
        variants["long, on"] = lambda: session_long(
            "--artifact-store",
            f"--artifact-repo={repo}",
            f"--artifact-correlation-id=bench{next(counter)}",
            "--artifact-no-push",
        )
        timings = interleaved(variants, repeat)
        removed, off_same, off, on, unscanned, script_time, long_off, long_on = (
            timings[n] for n in variants
        )
        assert git(repo, "rev-list", "--count", "--all") != "1", "nothing was committed"
    lines.append(f"  {'-p no:artifact_store (baseline)':<40} {removed.cell()}")
    lines.append(f"  {'plugin installed, off (same tests)':<40} {off_same.cell()}")
    lines.append(f"  {'plugin installed, off (all tests)':<40} {off.cell()}")
    lines.append(f"  {'--artifact-store (commits each run)':<40} {on.cell()}")
    lines.append(f"  {'--artifact-store, secret scan off':<40} {unscanned.cell()}")
    lines.append(f"  {'naive git CLI script, same files':<40} {script_time.cell()}")
    lines.append("  differences of medians (same run):")
    extra = 1000 * (off_same.median - removed.median)
    lines.append(f"  {'off - removed':<58} {extra:7.1f} ms  goal <= 15 ms")
    added = 1000 * (on.median - off.median)
    lines.append(f"  {'--artifact-store - off':<58} {added:7.1f} ms  goal <= 250 ms")
    lines.append(
        f"  {'(--artifact-store - off) / naive git script':<58} "
        f"{added / (1000 * script_time.median):7.2f}x  goal < 1"
    )
    lines.append(f"  {'+ a 0.3 s test, plugin off':<40} {long_off.cell()}")
    lines.append(f"  {'+ a 0.3 s test, --artifact-store':<40} {long_on.cell()}")
    hidden = 1000 * (long_on.median - long_off.median)
    lines.append(
        f"  {'with a 0.3 s test: (--artifact-store - off) / naive script':<58} "
        f"{hidden / (1000 * script_time.median):7.2f}x  goal < 1 ({hidden:.1f} ms)"
    )
    bare = 1000 * (unscanned.median - off.median)
    lines.append(
        f"  {'(scan off - off) / naive git script (which scans nothing)':<58} "
        f"{bare / (1000 * script_time.median):7.2f}x"
    )
    home.cleanup()
    return lines


def main() -> None:
    cli(run, __doc__)


if __name__ == "__main__":
    main()
