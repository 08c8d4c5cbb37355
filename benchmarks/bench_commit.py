"""commit_artifacts in one process (the plugin's case) vs a naive porcelain run and the floor.

    python benchmarks/bench_commit.py [--quick]

For each repository size (100 and 20k tracked files) it commits the seed's 6-file ~1 MB
artifact set (poorly compressible: random ids and prices on every trade row) onto a task
branch, many times, and prints medians and ratios against
baselines measured in the same run:
  naive      checkout / cp / add / commit / tag / checkout-back with the git CLI
  gitpython  a minimal GitPython plumbing path: gitdb object writes + one update-ref
  floor   hashing and zlib-compressing the artifact bytes as git's loose objects do
"""

from __future__ import annotations

import hashlib
import io
import itertools
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

from common import Timing, artifact_set, cli, git, interleaved, isolate_home, make_repo, ratio_line

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


def gitpython_commit(repo_path: Path, files: list[Path], n: int) -> None:
    """The minimal GitPython plumbing baseline: gitdb object writes for blobs, the task
    tree and the trees above it, a commit object, then one `git update-ref --stdin`."""
    import git
    from git.objects.fun import tree_to_stream
    from gitdb import IStream

    repo = git.Repo(repo_path)
    odb = repo.odb

    def store(kind: bytes, data: bytes) -> bytes:
        return odb.store(IStream(kind, len(data), io.BytesIO(data))).binsha  # type: ignore[no-any-return]

    def tree(entries: list[tuple[bytes, int, str]]) -> bytes:
        buf = io.BytesIO()
        tree_to_stream(
            sorted(entries, key=lambda e: e[2] + ("/" if e[1] == 0o40000 else "")), buf.write
        )
        return store(b"tree", buf.getvalue())

    branch = "refs/heads/ai/generated/gitpython/task_001"
    try:
        parent = repo.commit(branch)
    except (git.BadName, ValueError):
        parent = repo.head.commit
    task = [(store(b"blob", f.read_bytes()), 0o100644, f.name) for f in files]
    task.append((store(b"blob", f'{{"run": {n}}}\n'.encode()), 0o100644, "metadata.json"))
    sha = tree(task)
    path = ["Backtest", "codes", "task_001"]
    for depth in range(len(path) - 1, -1, -1):
        try:
            above = parent.tree["/".join(path[:depth])] if depth else parent.tree
            kept = [(e.binsha, e.mode, e.name) for e in above if e.name != path[depth]]
        except KeyError:
            kept = []
        sha = tree([*kept, (sha, 0o40000, path[depth])])
    ident = b"bench <bench@example.com> 1700000000 +0000"
    body = b"tree %s\nparent %s\nauthor %s\ncommitter %s\n\nartifacts(gitpython)\n" % (
        sha.hex().encode(),
        parent.hexsha.encode(),
        ident,
        ident,
    )
    commit = store(b"commit", body).hex()
    update = f"update {branch} {commit}\n"  # a baseline: no compare-and-swap, no tags
    subprocess.run(
        ["git", "update-ref", "--stdin"], cwd=repo_path, input=update.encode(), check=True
    )
    repo.close()


def run(quick: bool = False) -> list[str]:
    home = isolate_home()
    repeat = 7 if quick else 21
    sizes = (100, 5000) if quick else (100, 20000)
    lines = ["commit_artifacts: 6-file ~1 MB artifact set, in-process"]
    with tempfile.TemporaryDirectory(prefix="bench-commit-") as tmp:
        arts = artifact_set(Path(tmp, "artifacts"))
        data = [f.read_bytes() for f in arts]
        lines.append(f"  artifact bytes: {sum(map(len, data))}")
        counter = itertools.count()
        funcs: dict[str, Callable[[], object]] = {"floor": lambda: physical_floor(data)}
        stores = []
        for size in sizes:
            repo = make_repo(Path(tmp, f"repo{size}"), size)
            cfg = dict(repo_path=repo, auto_push=False)
            on = ArtifactStore(ArtifactStoreConfig(**cfg))  # type: ignore[arg-type]
            off = ArtifactStore(ArtifactStoreConfig(scan_for_secrets=False, **cfg))  # type: ignore[arg-type]
            stores += [on, off]
            funcs[f"{size} scan on"] = lambda s=on: s.commit_artifacts(
                "wf", "task_001", arts, correlation_id=f"c{next(counter)}"
            )
            funcs[f"{size} scan off"] = lambda s=off: s.commit_artifacts(
                "wf", "task_002", arts, correlation_id=f"c{next(counter)}"
            )
            funcs[f"{size} gitpython"] = lambda r=repo: gitpython_commit(r, arts, next(counter))
        # Every variant runs once per round, so the machine's drift hits them alike;
        # the slow naive runs get rounds of their own.
        timings = interleaved(funcs, repeat)
        naive = {
            f"{size} naive": lambda r=Path(tmp, f"repo{size}"): naive_commit(r, arts, next(counter))
            for size in sizes
        }
        timings |= interleaved(naive, max(5, repeat // 3))
        for store in stores:
            store.close()
        floor = timings.pop("floor")
        results: dict[int, dict[str, Timing]] = {
            size: {
                name.split(" ", 1)[1]: t
                for name, t in timings.items()
                if name.split(" ", 1)[0] == str(size)
            }
            for size in sizes
        }
        lines.append(f"  {'physical floor (sha1 + zlib level 1)':<40} {floor.cell()}")
        for size, res in results.items():
            for name, t in res.items():
                lines.append(f"  {size:>6} files  {name:<26} {t.cell()}")
        small, large = results[sizes[0]], results[sizes[1]]
        lines.append("  ratios (same run):")
        lines.append(
            ratio_line(
                "scan on (defaults) / physical floor (large repo)",
                large["scan on"],
                floor,
                "goal <= 1.5",
            )
        )
        lines.append(
            ratio_line(
                "scan off / physical floor (large repo)", large["scan off"], floor, "goal <= 1.2"
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
        lines.append(
            ratio_line(
                "gitpython plumbing baseline / scan off (large repo)",
                large["gitpython"],
                large["scan off"],
                "",
            )
        )
    home.cleanup()
    return lines


def main() -> None:
    cli(run, __doc__)


if __name__ == "__main__":
    main()
