"""Shared helpers for the benchmarks: timing, fixtures built fast, and the output table.

Every figure is a median with min/max over repeats, and is printed next to a baseline
measured in the same run (these machines are noisy; ratios are what count).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Timing:
    name: str
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def cell(self) -> str:
        ms = [s * 1000 for s in self.samples]
        return (
            f"{statistics.median(ms):9.2f} ms  (min {min(ms):.2f}, max {max(ms):.2f}, n={len(ms)})"
        )


def measure(name: str, func: Callable[[], object], repeat: int, warmup: int = 1) -> Timing:
    for _ in range(warmup):
        func()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return Timing(name, samples)


def interleaved(funcs: dict[str, Callable[[], object]], rounds: int) -> dict[str, Timing]:
    """Time every function once per round, round after round (after one warm-up round),
    so that drifting machine load hits every variant alike."""
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for i in range(rounds + 1):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            if i:
                samples[name].append(time.perf_counter() - start)
    return {name: Timing(name, values) for name, values in samples.items()}


def ratio_line(label: str, value: Timing, baseline: Timing, goal: str = "") -> str:
    r = value.median / baseline.median if baseline.median else float("inf")
    return f"  {label:<58} {r:7.2f}x  {goal}"


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, check=True, env=git_env()
    )
    return proc.stdout.decode().strip()


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


def isolate_home() -> tempfile.TemporaryDirectory[str]:
    home = tempfile.TemporaryDirectory(prefix="bench-home-")
    Path(home.name, ".gitconfig").write_text(
        "[user]\n\tname = bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    os.environ["HOME"] = home.name
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    for key in [k for k in os.environ if k.startswith("GIT_") and k != "GIT_CONFIG_NOSYSTEM"]:
        del os.environ[key]
    return home


def make_repo(path: Path, n_files: int) -> Path:
    """A work tree with ``n_files`` tracked files in one commit, built with fast-import."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    rng = random.Random(n_files)
    chunks = [b"commit refs/heads/main\n", b"committer bench <b@example.com> 1700000000 +0000\n"]
    chunks.append(b"data 7\ninitial\n")
    for i in range(n_files):
        body = f"# module {i}\nVALUE = {rng.random()}\n".encode()
        name = f"src/pkg{i // 500}/mod{i}.py"
        chunks.append(b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(body), body))
    chunks.append(b"\n")
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=path,
        input=b"".join(chunks),
        check=True,
        env=git_env(),
    )
    git(path, "reset", "-q", "--hard", "main")
    git(path, "gc", "-q")
    return path


def artifact_set(path: Path, seed: int = 1) -> list[Path]:
    """The seed's artifact set, about 1 MB over 5 files (metadata.json is the 6th)."""
    rng = random.Random(seed)
    path.mkdir(parents=True, exist_ok=True)
    out = {}
    lines = ["import os", "", "API_KEY = os.environ['BROKER_API_KEY']", ""]
    lines += [f"def rule_{i}(x):\n    return x * {rng.random():.6f}\n" for i in range(300)]
    out["strategy.py"] = "\n".join(lines)
    out["test_report.json"] = (
        "{\n"
        + ",\n".join(
            f'  "test_{i}": {{"outcome": "passed", "duration": {rng.random():.4f}}}'
            for i in range(400)
        )
        + "\n}\n"
    )
    # poorly compressible, as real fills are: random ids, prices and P&L on every row
    out["trades.csv"] = "time,order_id,side,qty,price,pnl\n" + "".join(
        f"2025-01-{1 + i % 28:02d}T10:{i % 60:02d}:{rng.randint(0, 59):02d},"
        f"{rng.getrandbits(63)},{'buy' if rng.random() < 0.5 else 'sell'},"
        f"{rng.randint(1, 900)},{rng.uniform(50, 150):.4f},{rng.gauss(0, 25):.4f}\n"
        for i in range(6000)
    )
    out["equity_curve.csv"] = "time,equity,drawdown\n" + "".join(
        f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d},{10000 + rng.random() * 100:.4f},"
        f"{rng.random():.5f}\n"
        for i in range(9000)
    )
    out["events.log"] = "".join(
        f"2025-01-01 10:00:{i % 60:02d} INFO order id={rng.getrandbits(48):x} filled "
        f"qty={rng.randint(1, 9)} px={100 + rng.random():.3f}\n"
        for i in range(4000)
    )
    files = []
    for name, text in out.items():
        (path / name).write_text(text)
        files.append(path / name)
    return files


def cli(run: Callable[[bool], list[str]], doc: str | None) -> None:
    """The command line every benchmark module shares: ``[--quick]``."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller fixtures, fewer repeats")
    print("\n".join(run(parser.parse_args().quick)))
