"""A fleet's remote at 1k / 100k (/ 450k) versions: what one runner's operations cost.

    python benchmarks/bench_scale.py [--quick] [--sizes 1000,100000] [--fold] [--repeat N]

Each remote is built with one `git fast-import` stream in SPEC §3's layout (50 workflows,
10-50 versions a task, one prompt per ~2 versions, annotated tags), refs packed as a
server keeps them; a runner clones it as a runner does (`git clone`), then times, through
the public API, every row of issue 26's table -- each beside a plain `git push --atomic`
of one commit and its tag from the same clone (git's own floor for a push, which grows with
the remote's refs) and as a ratio to the smallest remote. ``--fold``: the largest remote
again with 90 % of its versions archived and their tags folded by `gc --fold-tags --push`,
beside a remote of 10 % of its size (a remote behaves like its live size). --quick: 1k and
10k versions, fewer repeats.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import git, git_env, isolate_home

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

WORKFLOWS = 50
CLI = [sys.executable, "-m", "pytest_artifact_store.cli"]
T0 = 1_760_000_000  # the first version's commit time; one a second after it


def build_remote(path: Path, versions: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """A bare remote of ``versions``; returns (workflow, task, correlation id) per version."""
    rng = random.Random(seed)
    path.mkdir(parents=True)
    git(path, "init", "-q", "--bare", "-b", "main")
    out: list[bytes] = [
        b"commit refs/heads/main\nmark :1\ncommitter bot <bot@example.com> 1700000000 +0000\n",
        b"data 5\ninit\n\nM 100644 inline README.md\ndata 5\nhello\n\n",
    ]
    made: list[tuple[str, str, str]] = []
    mark, i, task_no = 1, 0, 0
    t0 = T0
    prompt = ""
    while i < versions:
        workflow = f"wf_{task_no % WORKFLOWS:02d}"
        task = f"task_{task_no:06d}"
        task_no += 1
        parent = 1
        for _ in range(min(rng.randint(10, 50), versions - i)):
            mark += 1
            ts = t0 + i
            cid = f"run-{i:07d}"
            if i % 2 == 0:
                prompt = f"{rng.getrandbits(64):016x}"
            meta = {
                "schema_version": 1,
                "workflow_id": workflow,
                "task_id": task,
                "correlation_id": cid,
                "prompt_hash": prompt,
                "commit_timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
                "test_status": "passed",
                "test_metrics": {"sharpe": round(rng.random() * 3, 4)},
                "files": [f"Backtest/codes/{task}/trades.csv"],
            }
            body = json.dumps(meta, indent=2).encode() + b"\n"
            rows = f"id,price\n{rng.getrandbits(40)},{rng.uniform(50, 150):.4f}\n".encode()
            msg = (
                f"artifacts({workflow}/{task}): corr_{cid}\n\nWorkflow-Id: {workflow}\n"
                f"Task-Id: {task}\nCorrelation-Id: corr_{cid}\nPrompt-Hash: {prompt}\n"
            ).encode()
            ref = f"refs/heads/ai/generated/{workflow}/{task}".encode()
            out.append(b"commit %s\nmark :%d\n" % (ref, mark))
            out.append(b"committer bot <bot@example.com> %d +0000\n" % ts)
            out.append(b"data %d\n%s\nfrom :%d\n" % (len(msg), msg, parent))
            for name, data in ((b"trades.csv", rows), (b"metadata.json", body)):
                p = b"Backtest/codes/%s/%s" % (task.encode(), name)
                out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (p, len(data), data))
            out.append(b"\n")
            tags = [f"corr_{cid}"] + ([f"prompt_{prompt}"] if i % 2 == 0 else [])
            for tag in tags:
                out.append(
                    b"tag %s\nfrom :%d\ntagger bot <bot@example.com> %d +0000\ndata 4\ntag\n\n"
                    % (tag.encode(), mark, ts)
                )
            parent = mark
            made.append((workflow, task, cid))
            i += 1
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=path, input=b"".join(out), check=True, env=git_env()
    )
    git(path, "pack-refs", "--all")
    git(path, "gc", "-q")
    return made


def timed(func: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


class Runner:
    """One runner's clone of the remote, and the store on it."""

    def __init__(self, remote: Path, where: Path) -> None:
        start = time.perf_counter()
        subprocess.run(["git", "clone", "-q", str(remote), str(where)], check=True, env=git_env())
        self.clone_seconds = time.perf_counter() - start
        self.path = where
        self.counter = 0
        src = Path(tempfile.mkdtemp(prefix=f"{where.name}-out-", dir=where.parent))
        self.src = src

    def store(self, **kw: object) -> ArtifactStore:
        # what a push costs is measured, not whether it fits the default 30 s (at 450k
        # versions git's own push takes 20-30 s on 2 cores)
        kw.setdefault("push_timeout", 600)
        return ArtifactStore(ArtifactStoreConfig(repo_path=self.path, **kw))  # type: ignore[arg-type]

    def file(self) -> list[Path]:
        self.counter += 1
        path = self.src / "trades.csv"
        path.write_text(f"id,price\n{self.counter},{random.random():.6f}\n")
        return [path]

    def commit(self, store: ArtifactStore, workflow: str, task: str) -> dict:
        self.counter += 1
        cid = f"{self.path.name}-{self.counter}-{time.monotonic_ns()}"
        return store.commit_artifacts(workflow, task, self.file(), correlation_id=cid)

    def plain_push(self, *config: str) -> None:
        """git's own floor: one commit and its annotated tag, `git push --atomic`
        (``config``: ``-c`` options for that push)."""
        self.counter += 1
        ref = f"refs/heads/floor/{time.monotonic_ns()}"
        tree = git(self.path, "rev-parse", "main^{tree}")
        commit = git(self.path, "commit-tree", tree, "-p", "main", "-m", f"floor {self.counter}")
        tag = f"floor_{self.path.name}_{time.monotonic_ns()}"
        git(self.path, "tag", "-a", "-m", "floor", tag, commit)
        git(
            self.path,
            *config,
            "push",
            "-q",
            "--atomic",
            "origin",
            f"{commit}:{ref}",
            f"refs/tags/{tag}",
        )


def measure(
    remote: Path, made: list[tuple[str, str, str]], tmp: Path, repeat: int, name: str = ""
) -> tuple[dict[str, float], Runner]:
    runner = Runner(remote, tmp / f"runner-{name or remote.name}")
    rng = random.Random(3)
    workflow, task, _ = made[-1]
    row: dict[str, float] = {"git clone": runner.clone_seconds}
    fresh = lambda **kw: runner.store(**kw)  # noqa: E731 -- a new store per call
    # the first listing of a clone reads every task branch's tip time (then memoised)
    row["list_artifacts(limit=50), first in the clone"] = timed(
        lambda: fresh(auto_push=False).list_artifacts(), 1
    )
    row["list_artifacts(limit=50)"] = timed(lambda: fresh(auto_push=False).list_artifacts(), repeat)
    row["list_artifacts(task_id=T, limit=50)"] = timed(
        lambda: fresh(auto_push=False).list_artifacts(task_id=task), repeat
    )
    lookups = fresh(auto_push=False)
    row["lookup by correlation id"] = timed(
        lambda: lookups.get_artifact_by_correlation_id(rng.choice(made)[2]), repeat * 4
    )
    row["commit, no push"] = timed(
        lambda: runner.commit(fresh(auto_push=False), "wf_local", "task_local"), repeat
    )
    row["plain git push --atomic (floor)"] = timed(runner.plain_push, repeat)
    # the store's pushes run pack-objects without reachability bitmaps (remote/push.py)
    row["plain git push --atomic, pack.useBitmaps=false"] = timed(
        lambda: runner.plain_push("-c", "pack.useBitmaps=false"), repeat
    )
    row["commit + auto-push, existing task"] = timed(
        lambda: runner.commit(fresh(), workflow, task), repeat
    )
    counter = iter(range(10**6))
    row["commit + auto-push, new task"] = timed(
        lambda: runner.commit(fresh(), "wf_new", f"task_n{next(counter)}"), repeat
    )
    remote_only = iter([m[:2] for m in made[: -200 : max(1, len(made) // 50)]])
    row["commit + auto-push, task only on the remote"] = timed(
        lambda: runner.commit(fresh(), *next(remote_only)), repeat
    )

    def pending() -> None:
        runner.commit(fresh(auto_push=False), workflow, task)
        result = fresh().push_pending()
        assert result["pushed"], result

    row["push_pending(), 1 pending version"] = timed(pending, repeat)

    def cli_push() -> None:
        runner.commit(fresh(auto_push=False), workflow, task)
        subprocess.run(
            [*CLI, "--repo", str(runner.path), "push", "--timeout", "600"],
            check=True,
            capture_output=True,
        )

    row["artifact-store push, 1 pending version"] = timed(cli_push, repeat)
    row["refs packed in the clone (0/1)"] = float((runner.path / ".git" / "packed-refs").exists())
    return row, runner


def interleaved(
    clones: dict[str, tuple[Runner, list[tuple[str, str, str]]]], pushes: list[str], repeat: int
) -> dict[str, dict[str, float]]:
    """The rows a ratio between remotes is read from, measured in the same rounds on
    every clone (one call each per round, in turn): the table above measures one remote
    after the other, minutes apart, and this machine's speed drifts more than that.
    Listing on every clone; pushes on the ``pushes`` clones."""
    samples: dict[tuple[str, str], list[float]] = {}

    def sample(label: str, what: str, func: Callable[[], object]) -> None:
        start = time.perf_counter()
        func()
        samples.setdefault((label, what), []).append(time.perf_counter() - start)

    for _ in range(3 * repeat):
        for label, (runner, _made) in clones.items():
            store = runner.store(auto_push=False)
            sample(label, "list_artifacts(limit=50)", store.list_artifacts)
    for _ in range(repeat):
        for label in pushes:
            runner, made = clones[label]
            workflow, task, _ = made[-1]
            sample(label, "plain git push --atomic (floor)", runner.plain_push)
            sample(
                label,
                "plain git push --atomic, pack.useBitmaps=false",
                lambda r=runner: r.plain_push("-c", "pack.useBitmaps=false"),
            )
            sample(
                label,
                "commit + auto-push, existing task",
                lambda r=runner, w=workflow, t=task: r.commit(r.store(), w, t),
            )
    out: dict[str, dict[str, float]] = {label: {} for label in clones}
    for (label, what), values in samples.items():
        out[label][what] = statistics.median(values)
    return out


def fold(remote: Path, tmp: Path, versions: int) -> None:
    """Archive and fold 90 % of the remote's versions from a gc machine's clone."""
    gc_clone = Runner(remote, tmp / f"gc-{remote.name}")
    store = gc_clone.store()
    for branch in store.repo.for_each_ref(["refs/remotes/origin/ai/generated/"], "%(refname)"):
        local = branch.removeprefix("refs/remotes/origin/")
        git(gc_clone.path, "branch", "-q", local, branch)
    # the fixture's versions are a second apart from T0: archive those before 90 %
    cutoff = T0 + int(0.9 * versions)
    t = time.perf_counter()
    store.archive((time.time() - cutoff) / 86400)
    print(f"  archive: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    result = store.fold_tags(push=True, timeout=600)
    print(f"  fold + push: {time.perf_counter() - t:.1f} s, {len(result['tags'])} tags folded")
    git(remote, "pack-refs", "--all")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default=None, help="comma-separated version counts")
    parser.add_argument("--fold", action="store_true", help="also the folded largest remote")
    parser.add_argument("--repeat", type=int, default=None, help="medians of N (default 5)")
    args = parser.parse_args()
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([1000, 10_000] if args.quick else [1000, 100_000])
    )
    repeat = args.repeat or (3 if args.quick else 5)
    home = isolate_home()
    gitv = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"# {gitv}; medians of {repeat}; seconds")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        rows: dict[str, dict[str, float]] = {}
        clones: dict[str, tuple[Runner, list[tuple[str, str, str]]]] = {}
        for size in sizes:
            start = time.perf_counter()
            made = build_remote(tmp / f"remote-{size}", size)
            refs = git(tmp / f"remote-{size}", "for-each-ref", "--format=x").count("x")
            print(f"built {size} versions ({refs} refs) in {time.perf_counter() - start:.0f} s")
            rows[f"{size:,}"], runner = measure(tmp / f"remote-{size}", made, tmp, repeat)
            clones[f"{size:,}"] = (runner, made)
            print(f"  {size:,}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[f"{size:,}"].items()))
        pushes: list[str] = []
        if args.fold:
            big = sizes[-1]
            remote = tmp / f"remote-{big}"
            start = time.perf_counter()
            fold(remote, tmp, big)
            refs = git(remote, "for-each-ref", "--format=x").count("x")
            print(f"folded 90 % of {big} in {time.perf_counter() - start:.0f} s ({refs} refs left)")
            # (the unfolded clone stays: it lists what it cloned, a listing asks no remote)
            rows[f"{big:,} folded"], runner = measure(
                remote, made, tmp, repeat, name=f"{remote.name}-folded"
            )
            clones[f"{big:,} folded"] = (runner, made)
            print(
                "  folded: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[f"{big:,} folded"].items())
            )
            small = big // 10
            made = build_remote(tmp / f"remote-{small}-live", small)
            rows[f"{small:,} unfolded"], runner = measure(
                tmp / f"remote-{small}-live", made, tmp, repeat
            )
            clones[f"{small:,} unfolded"] = (runner, made)
            pushes = [f"{big:,} folded", f"{small:,} unfolded"]
        _table(rows)
        print("\ninterleaved: the same rounds on every clone (ratios between remotes from these)")
        _table(interleaved(clones, pushes, repeat), shares=False)
    home.cleanup()


def _table(rows: dict[str, dict[str, float]], shares: bool = True) -> None:
    """A markdown table, ratios to the first column, and each goal's line (``shares``:
    the push rows' share of a plain push in the same clone)."""
    names = list(dict.fromkeys(name for row in rows.values() for name in row))
    first = next(iter(rows))
    header = "| what | " + " | ".join(rows) + " | ratio to " + first + " |"
    print(header)
    print("|" + "---|" * (len(rows) + 2))
    for name in names:
        cells = [f"{rows[k][name]:.3f}" if name in rows[k] else "-" for k in rows]
        base = rows[first].get(name) or 0
        ratios = ", ".join(
            f"{rows[k][name] / base:.2f}x" for k in list(rows)[1:] if base and name in rows[k]
        )
        print(f"| {name} | " + " | ".join(cells) + f" | {ratios} |")
    for k, row in rows.items() if shares else ():
        floor = row["plain git push --atomic (floor)"]
        commit = row["commit, no push"]
        for name in names:
            if "push" in name and "plain" not in name:
                share = (row[name] - commit) / floor if floor else float("inf")
                print(f"  {k}: ({name} - commit) / plain push = {share:.2f}x  goal <= 1.2")
    keys = list(rows)
    listing = "list_artifacts(limit=50)"
    for k in keys[1:]:
        if "folded" not in k and "unfolded" not in k and listing in rows[k]:
            ms, ratio = rows[k][listing] * 1000, rows[k][listing] / rows[first][listing]
            print(f"  {k}: {listing} {ms:.1f} ms, {ratio:.2f}x {first}  goal <= 50 ms, <= 2x")
    folded = next((k for k in keys if k.endswith(" folded")), None)
    live = next((k for k in keys if k.endswith(" unfolded")), None)
    if folded and live:
        for name in names:
            if "push" in name and name in rows[folded] and name in rows[live]:
                ratio = rows[folded][name] / rows[live][name]
                print(f"  {name}: {folded} / {live} = {ratio:.2f}x  (goal <= 1.2 for the store's)")


if __name__ == "__main__":
    main()
