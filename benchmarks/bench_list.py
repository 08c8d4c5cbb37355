"""list_artifacts and get_artifact_by_correlation_id at 100 vs 10k versions.

    python benchmarks/bench_list.py [--quick]

Fixtures are built with one `git fast-import` stream (commits with the store's trailers
and metadata.json, annotated corr_ tags), not one API call per version. Baselines
measured in the same run:
  floor   one `git for-each-ref` plus one batched `git cat-file --batch` read of every
          version's metadata.json (names known in advance) and json.loads of each
A full listing keeps what it read in .git/artifact-store/json-cache (a memo by commit
id, see README "Performance"); `listall` is a listing after the first, `listcold` one
with that file deleted first (the first listing of a repository, or after a clone).
`get x20` is 20 lookups of random ids on a long-lived store, which answers them in
process (pygit2) after its first small reads (the warm-up round); `get x20 cat-file`
the same on a store kept on the long-lived `git cat-file` (what a short-lived caller,
like one `artifact-store show`, uses).
"""

from __future__ import annotations

import json
import random
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import cli, git, git_env, interleaved, isolate_home, make_repo, ratio_line

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig


def build_versions(repo: Path, versions: int, tasks: int) -> list[str]:
    """``versions`` artifact commits spread over ``tasks`` task branches; returns corr ids."""
    base = git(repo, "rev-parse", "main")
    out: list[bytes] = []
    corr_ids = []
    last: dict[int, int] = {}
    t0 = 1_760_000_000
    for i in range(versions):
        task = i % tasks
        ts = t0 + i
        corr = f"corr_v{i:06d}"
        corr_ids.append(corr)
        meta = {
            "schema_version": 1,
            "workflow_id": "wf",
            "task_id": f"task_{task:04d}",
            "correlation_id": corr,
            "prompt_hash": None,
            "commit_timestamp": f"{_iso(ts)}.{i % 1000000:06d}Z",
            "agent_version": "coder-v1",
            "llm_version": "gpt-4",
            "test_metrics": {"net_pnl": i * 0.5, "win_rate": 0.5, "max_drawdown": 3.0},
            "files": [
                f"Backtest/codes/task_{task:04d}/strategy.py",
                f"Backtest/codes/task_{task:04d}/metadata.json",
            ],
        }
        body = json.dumps(meta, indent=2).encode() + b"\n"
        code = f"VERSION = {i}\n".encode()
        msg = (
            f"artifacts(wf/task_{task:04d}): {corr}\n\nWorkflow-Id: wf\nTask-Id: task_{task:04d}\n"
            f"Correlation-Id: {corr}\nAgent-Version: coder-v1\nLLM-Version: gpt-4\n"
        ).encode()
        ref = f"refs/heads/ai/generated/wf/task_{task:04d}".encode()
        out.append(b"commit %s\nmark :%d\n" % (ref, i + 1))
        out.append(b"committer bot <bot@example.com> %d +0000\n" % ts)
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        out.append(b"from %s\n" % (b":%d" % last[task] if task in last else base.encode()))
        for name, data in ((b"strategy.py", code), (b"metadata.json", body)):
            path = b"Backtest/codes/task_%04d/%s" % (task, name)
            out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path, len(data), data))
        out.append(b"\n")
        out.append(
            b"tag %s\nfrom :%d\ntagger bot <bot@example.com> %d +0000\ndata 4\ntag\n\n"
            % (corr.encode(), i + 1, ts)
        )
        last[task] = i + 1
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(out), check=True, env=git_env()
    )
    return corr_ids


def _iso(ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def floor_full_list(repo: Path, names: bytes) -> None:
    subprocess.run(
        ["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/ai/generated/"],
        cwd=repo,
        capture_output=True,
        check=True,
    )
    data = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=repo, input=names, capture_output=True, check=True
    ).stdout
    pos = 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        size = int(data[pos:nl].split()[2])
        json.loads(data[nl + 1 : nl + 1 + size])
        pos = nl + 2 + size


def _cold_listing(store: ArtifactStore, repo: Path) -> object:
    (repo / ".git" / "artifact-store" / "json-cache").unlink(missing_ok=True)
    return store.list_artifacts(limit=None)


def run(quick: bool = False) -> list[str]:
    home = isolate_home()
    sizes = (100, 2000) if quick else (100, 10000)
    repeat = 7 if quick else 15
    lines = ["list_artifacts / get_artifact_by_correlation_id"]
    with tempfile.TemporaryDirectory(prefix="bench-list-") as tmp:
        funcs: dict[str, Callable[[], object]] = {}
        gets: dict[str, Callable[[], object]] = {}
        stores = []
        for n in sizes:
            repo = make_repo(Path(tmp, f"r{n}"), 50)
            corr_ids = build_versions(repo, n, max(1, n // 100))
            store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
            stores.append(store)
            commits = git(
                repo,
                "log",
                "--format=%H %(trailers:key=Task-Id,valueonly)",
                "--branches=ai/generated/*",
                "--not",
                "main",
            ).split()
            names = "".join(
                f"{sha}:Backtest/codes/{task}/metadata.json\n"
                for sha, task in zip(commits[::2], commits[1::2], strict=True)
            ).encode()
            assert len(store.list_artifacts(limit=None)) == n
            funcs[f"{n} list50"] = lambda s=store: s.list_artifacts(limit=50)
            funcs[f"{n} listall"] = lambda s=store: s.list_artifacts(limit=None)
            funcs[f"{n} listcold"] = lambda s=store, r=repo: _cold_listing(s, r)
            funcs[f"{n} floor"] = lambda r=repo, b=names: floor_full_list(r, b)
            # one sample = 20 lookups of random ids (sub-millisecond calls are noise alone)
            on_git = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
            on_git.repo._in_process = None  # never turns to the in-process reader
            stores.append(on_git)
            for key, s in (("get x20", store), ("get x20 cat-file", on_git)):
                rng = random.Random(n)
                gets[f"{n} {key}"] = lambda s=s, c=corr_ids, r=rng: [
                    s.get_artifact_by_correlation_id(r.choice(c)) for _ in range(20)
                ]
        timings = interleaved(funcs, repeat) | interleaved(gets, repeat * 3)
        for store in stores:
            store.close()
    res = {
        n: {k.split(" ", 1)[1]: t for k, t in timings.items() if k.split()[0] == str(n)}
        for n in sizes
    }
    for n in sizes:
        for key, t in res[n].items():
            lines.append(f"  {n:>6} versions  {key:<24} {t.cell()}")
    small, large = res[sizes[0]], res[sizes[1]]
    lines.append("  ratios (same run):")
    lines.append(
        ratio_line(
            f"list(limit=50): {sizes[1]} / {sizes[0]} versions",
            large["list50"],
            small["list50"],
            "goal <= 2 (and <= 50 ms)",
        )
    )
    lines.append(
        ratio_line(
            f"list(limit=None) at {sizes[1]} / floor",
            large["listall"],
            large["floor"],
            "goal <= 1.2",
        )
    )
    lines.append(
        ratio_line(
            f"  first listing at {sizes[1]} (no cache yet) / floor",
            large["listcold"],
            large["floor"],
            "(no goal; once per clone)",
        )
    )
    lines.append(
        ratio_line(
            f"get by correlation id: {sizes[1]} / {sizes[0]}",
            large["get x20"],
            small["get x20"],
            "goal <= 1.5",
        )
    )
    lines.append(
        ratio_line(
            f"  the same on cat-file: {sizes[1]} / {sizes[0]}",
            large["get x20 cat-file"],
            small["get x20 cat-file"],
            "(no goal; see README)",
        )
    )
    home.cleanup()
    return lines


def main() -> None:
    cli(run, __doc__)


if __name__ == "__main__":
    main()
