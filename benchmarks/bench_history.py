"""Listing and lookup on histories built the way agents build them (issue 16).

    python benchmarks/bench_history.py [--quick]

Unlike bench_list.py's fast-import fixtures, every version here is made through
``ArtifactStore.commit_artifacts``: one prompt hash and one correlation id per run, poorly
compressible trade rows, refs and objects exactly as the store leaves them (never packed
by hand). Fixtures: 100 and 10,000 versions (--quick: 100 and 1,000) on one task branch,
and the larger count spread over 1,000 task branches (--quick: 100). After building, the
benchmark waits for the maintenance the store started in the background (a repack
running beside the timings would measure it, not the listing). Each listing is timed in a fresh
store (a new process's first call) and in a long-lived one, interleaved round by round;
ratios against the 100-version history are taken within the same run.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
import time
from pathlib import Path

from common import Timing, cli, git, interleaved, isolate_home

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig


def build(repo: Path, versions: int, branches: int, seed: int = 1) -> tuple[float, list[str]]:
    """``versions`` commits through the API over ``branches`` task branches; returns the
    seconds per commit and the correlation ids."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    out = repo.parent / f"{repo.name}-out"
    out.mkdir()
    rng = random.Random(seed)
    ids = []
    start = time.perf_counter()
    for i in range(versions):
        trades = out / "trades.csv"
        rows = (
            f"{rng.random():.6f},{rng.randint(1, 10**9)},{rng.uniform(1, 9e4):.2f}"
            for _ in range(200)
        )
        trades.write_text("ts,id,price\n" + "\n".join(rows) + "\n")
        ids.append(f"run-{seed}-{i}")
        store.commit_artifacts(
            "wf",
            f"task_{i % branches}",
            [trades],
            correlation_id=ids[-1],
            prompt_hash=f"{rng.getrandbits(64):016x}",
        )
    store.close()
    per_commit = (time.perf_counter() - start) / versions
    _wait_for_maintenance(repo)
    return per_commit, ids


def _wait_for_maintenance(repo: Path, limit: float = 300) -> None:
    """Until the detached ``git maintenance run --auto`` the store started is done."""
    lock = repo / ".git" / "objects" / "maintenance.lock"
    deadline = time.monotonic() + limit
    while lock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def run(quick: bool = False) -> list[str]:
    small, large, wide = (100, 1000, 100) if quick else (100, 10_000, 1000)
    rounds = 7 if quick else 11
    out = [f"history built through the API: {small} / {large} versions, one prompt each"]
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp, isolate_home():
        fixtures = {
            f"{small} on 1 branch": (Path(tmp, "small"), small, 1),
            f"{large} on 1 branch": (Path(tmp, "large"), large, 1),
            f"{large} on {wide} branches": (Path(tmp, "wide"), large, wide),
        }
        ids: dict[str, list[str]] = {}
        for label, (repo, versions, branches) in fixtures.items():
            per_commit, ids[label] = build(repo, versions, branches)
            refs = subprocess.run(
                ["git", "-C", str(repo), "count-objects", "-v"], capture_output=True, text=True
            ).stdout.split("\n")[0]
            out.append(f"  built {label}: {per_commit * 1000:.1f} ms a commit ({refs})")
        stores = {
            label: ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
            for label, (repo, _v, _b) in fixtures.items()
        }
        rng = random.Random(3)

        def fresh(repo: Path) -> None:
            store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
            store.list_artifacts(limit=50)
            store.close()

        funcs = {}
        for label, (repo, _v, _b) in fixtures.items():
            funcs[f"list(50) fresh store, {label}"] = lambda r=repo: fresh(r)
            funcs[f"list(50) long-lived, {label}"] = lambda s=stores[label]: s.list_artifacts(
                limit=50
            )
            funcs[f"lookup x20, {label}"] = lambda s=stores[label], i=ids[label]: [
                s.get_artifact_by_correlation_id(rng.choice(i)) for _ in range(20)
            ]
        timings: dict[str, Timing] = interleaved(funcs, rounds)
        for name, t in timings.items():
            out.append(f"  {name:<52} {t.cell()}")
        base = f"{small} on 1 branch"
        for kind in ("list(50) fresh store", "list(50) long-lived", "lookup x20"):
            for label in fixtures:
                if label != base:
                    r = timings[f"{kind}, {label}"].median / timings[f"{kind}, {base}"].median
                    ratio = f"{label} / {base}"
                    out.append(f"  {kind + ':':<22} {ratio:<40} {r:6.2f}x  goal <= 1.3")
        for label in fixtures:
            ms = 1000 * timings[f"list(50) long-lived, {label}"].median
            out.append(f"  list(50) in process, {label:<33} {ms:6.1f} ms  goal <= 50 ms")
        for store in stores.values():
            store.close()
    return out


if __name__ == "__main__":
    cli(run, __doc__)
