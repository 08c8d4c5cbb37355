"""Peers: pytest-artifact-store beside MLflow, DVC and a naive git script (issue 16).

    pip install -e '.[peers]'            # mlflow>=3, dvc>=3; a peer not importable is skipped
    python benchmarks/peers.py [--quick]

Every tool gets the same versions: trades.csv (2,000 rows of random ids and prices),
equity_curve.csv (1,000 rows), strategy.py, five metrics and four params, and one
correlation id and one prompt hash per version (one prompt per run, as agents make them).

Workloads, each variant interleaved round by round with pytest-artifact-store's, so the
ratios (tool / artifact-store, >1: the peer is slower) are taken under the same load:

- record one version in process, with a fresh store object per call and a long-lived one;
- histories of 100 and 1,000 versions (--quick: 50 and 300) built through each tool's own
  API, one version after another for every tool in turn (DVC: the smaller size only); for
  our store also the larger count over one task branch per version;
- list the newest 50, and look one version up by its correlation id, fresh and long-lived;
- record one version in a fresh ``python -c`` process (artifact-store has no commit
  command, so its API), against the naive git script run by ``sh``.

The peers, each the way its users record a run with files, metrics and params:

- MLflow, fluent API (start_run, log_params, log_metrics, set_tags, log_artifacts) into a
  sqlite tracking store and into the file store (MLflow 3.x refuses the file store unless
  MLFLOW_ALLOW_FILE_STORE=true: set here). List: ``MlflowClient.search_runs(max_results=50,
  order_by start_time DESC)``; lookup: ``search_runs`` with ``tags.correlation_id = '...'``.
  Fresh means a new MlflowClient after clearing MLflow's per-URI store cache and
  SQLAlchemy engine map, which a new process starts without.
- DVC 3.x experiments: a git + DVC project whose data (out/: the CSVs) is a DVC-tracked
  output, params.yaml and metrics.json declared in dvc.yaml, strategy.py in git; a version
  is the files written into the workspace and ``Repo.experiments.save(name=<correlation
  id>)`` (``dvc exp save -n``), which caches the outputs and commits an experiment ref.
  List: ``dvc.api.exp_show`` (no limit: it reads every experiment; the newest 50 are
  kept); lookup: ``exp_show(revs=<correlation id>)``, the experiment's name.
- The naive git script: check out the task branch (or create it from main), copy the
  files and a metadata.json, add, commit (the metadata JSON as the message body), tag
  ``corr_<id>`` and ``prompt_<hash>``, check out main again. List: one ``git for-each-ref
  --sort=-creatordate --count=50`` over the corr_ tags with the commit bodies (whole
  seconds: versions made in the same second come in name order); lookup: one ``git log -1``
  of the tag.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import Timing, cli, git, git_env, interleaved, isolate_home

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

WORKFLOW = "wf_peers"
TASK = "task_peers"
LOOKUP_BUDGET = 0.25  # seconds of lookups per sample: fast tools repeat them, slow ones not
OURS = "artifact-store"


class Version:
    """One backtest run's outputs, written to ``path`` (the same data for every tool)."""

    def __init__(self, path: Path, label: str, i: int) -> None:
        rng = random.Random(f"{label}-{i}")
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        self.dir = path
        self.cid = f"{label}-{i:05d}-{rng.getrandbits(32):08x}"
        self.phash = f"{rng.getrandbits(64):016x}"
        self.params: dict[str, Any] = {
            "lookback": rng.randint(5, 60),
            "entry_z": round(rng.uniform(0.5, 3), 3),
            "exit_z": round(rng.uniform(0, 1), 3),
            "stop_loss": round(rng.uniform(0.01, 0.1), 4),
        }
        price, lines = 100.0, ["time,trade_id,side,qty,price,pnl"]
        for k in range(2000):
            price *= 1 + rng.gauss(0, 0.002)
            lines.append(
                f"2025-{1 + k // 168:02d}-{1 + k // 6 % 28:02d}T{k % 24:02d}:"
                f"{rng.randrange(60):02d}:{rng.randrange(60):02d},{rng.getrandbits(64):016x},"
                f"{rng.choice(('buy', 'sell'))},{rng.randint(1, 500)},{price:.4f},"
                f"{rng.gauss(0, 25):.2f}"
            )
        (path / "trades.csv").write_text("\n".join(lines) + "\n")
        equity, peak, worst, lines = 10_000.0, 10_000.0, 0.0, ["date,equity,drawdown"]
        for k in range(1000):
            equity *= 1 + rng.gauss(0.0003, 0.01)
            peak = max(peak, equity)
            worst = max(worst, 1 - equity / peak)
            lines.append(f"2022-01-01+{k}d,{equity:.4f},{1 - equity / peak:.6f}")
        (path / "equity_curve.csv").write_text("\n".join(lines) + "\n")
        (path / "strategy.py").write_text(
            '"""Mean reversion on z-scores."""\n\n'
            + "".join(f"{k.upper()} = {v!r}\n" for k, v in self.params.items())
            + "\n\ndef signal(prices):\n"
            "    window = prices[-LOOKBACK:]\n"
            "    mean = sum(window) / len(window)\n"
            "    std = (sum((p - mean) ** 2 for p in window) / len(window)) ** 0.5 or 1.0\n"
            "    z = (prices[-1] - mean) / std\n"
            "    return -1 if z > ENTRY_Z else 1 if z < -ENTRY_Z else 0\n"
        )
        self.files = [path / "strategy.py", path / "trades.csv", path / "equity_curve.csv"]
        self.metrics = {
            "sharpe": round(rng.gauss(1, 0.5), 4),
            "max_drawdown": round(worst, 6),
            "total_return": round(equity / 10_000 - 1, 6),
            "win_rate": round(rng.uniform(0.3, 0.7), 4),
            "total_trades": 2000,
        }

    def store_metadata(self) -> dict[str, Any]:
        """What our store is given; it adds the ids, files, hashes and timestamp itself."""
        return {"test_status": "passed", "test_metrics": self.metrics, "params": self.params}

    def full_metadata(self, task: str) -> dict[str, Any]:
        """What the naive script writes itself."""
        return {
            "workflow_id": WORKFLOW,
            "task_id": task,
            "correlation_id": self.cid,
            "prompt_hash": self.phash,
            **self.store_metadata(),
        }


def disk(*paths: Path) -> int:
    total = 0
    for path in paths:
        for dirpath, _dirs, files in os.walk(path):
            total += sum(os.lstat(os.path.join(dirpath, f)).st_size for f in files)
    return total


def run_process(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")


class Peer(abc.ABC):
    """One tool's store: record, list the newest 50, look up by correlation id."""

    name = ""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)

    @abc.abstractmethod
    def record(self, v: Version, task: str, fresh: bool) -> None: ...

    @abc.abstractmethod
    def list50(self, fresh: bool) -> list[Any]: ...

    @abc.abstractmethod
    def lookup(self, cid: str, fresh: bool) -> Any: ...

    @abc.abstractmethod
    def process(self, v: Version, task: str) -> list[str]:
        """The command recording ``v`` from a new process."""

    def size(self) -> int:
        return disk(self.root)

    def close(self) -> None:  # noqa: B027 -- optional: most tools keep no handles
        """Release the tool's handles."""


class Ours(Peer):
    name = OURS

    def __init__(self, root: Path, label: str = OURS) -> None:
        super().__init__(root)
        self.name = label
        git(root, "init", "-q", "-b", "main")
        git(root, "commit", "-q", "--allow-empty", "-m", "init")
        self.store: ArtifactStore | None = None

    def _call(self, fresh: bool, func: Callable[[ArtifactStore], Any]) -> Any:
        config = ArtifactStoreConfig(repo_path=self.root, auto_push=False)
        if fresh:
            with ArtifactStore(config) as store:
                return func(store)
        if self.store is None:
            self.store = ArtifactStore(config)
        return func(self.store)

    def record(self, v: Version, task: str, fresh: bool) -> None:
        self._call(
            fresh,
            lambda s: s.commit_artifacts(
                WORKFLOW,
                task,
                v.files,
                metadata=v.store_metadata(),
                correlation_id=v.cid,
                prompt_hash=v.phash,
            ),
        )

    def list50(self, fresh: bool) -> list[Any]:
        return self._call(fresh, lambda s: s.list_artifacts(limit=50))

    def lookup(self, cid: str, fresh: bool) -> Any:
        return self._call(fresh, lambda s: s.get_artifact_by_correlation_id(cid))

    def process(self, v: Version, task: str) -> list[str]:
        code = (
            "import json, sys\n"
            "from pathlib import Path\n"
            "from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig\n"
            "repo, src, task, cid, phash, meta = sys.argv[1:]\n"
            "files = sorted(Path(src).iterdir())\n"
            "with ArtifactStore(ArtifactStoreConfig(repo_path=Path(repo), auto_push=False)) as s:\n"
            "    s.commit_artifacts('" + WORKFLOW + "', task, files, metadata=json.loads(meta),\n"
            "                       correlation_id=cid, prompt_hash=phash)\n"
        )
        meta = json.dumps(v.store_metadata())
        return [sys.executable, "-c", code, str(self.root), str(v.dir), task, v.cid, v.phash, meta]

    def size(self) -> int:
        return disk(self.root / ".git")

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


NAIVE_SCRIPT = r"""set -e
repo=$1; src=$2; task=$3; cid=$4; phash=$5; meta=$6
cd "$repo"
git checkout -q "$task" 2>/dev/null || git checkout -q -b "$task" main
mkdir -p "Backtest/codes/$task"
cp "$src"/* "Backtest/codes/$task/"
printf '%s\n' "$meta" > "Backtest/codes/$task/metadata.json"
git add "Backtest/codes/$task"
git commit -q -m "artifacts $task $cid" -m "$meta"
git tag "corr_$cid"
git tag "prompt_$phash"
git checkout -q main
"""


class NaiveGit(Peer):
    name = "naive git"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        git(root, "init", "-q", "-b", "main")
        git(root, "commit", "-q", "--allow-empty", "-m", "init")
        self.env = git_env()

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=self.root, env=self.env, capture_output=True, text=True, check=check
        )

    def record(self, v: Version, task: str, fresh: bool) -> None:
        if self._git("checkout", "-q", task, check=False).returncode:
            self._git("checkout", "-q", "-b", task, "main")
        dest = self.root / "Backtest" / "codes" / task
        dest.mkdir(parents=True, exist_ok=True)
        for f in v.files:
            shutil.copy(f, dest / f.name)
        meta = json.dumps(v.full_metadata(task))
        (dest / "metadata.json").write_text(meta + "\n")
        self._git("add", f"Backtest/codes/{task}")
        self._git("commit", "-q", "-m", f"artifacts {task} {v.cid}", "-m", meta)
        self._git("tag", f"corr_{v.cid}")
        self._git("tag", f"prompt_{v.phash}")
        self._git("checkout", "-q", "main")

    def list50(self, fresh: bool) -> list[Any]:
        out = self._git(
            "for-each-ref",
            "--sort=-creatordate",
            "--count=50",
            "--format=%(objectname)%09%(contents:body)",
            "refs/tags/corr_*",
        ).stdout
        return [json.loads(line.split("\t", 1)[1]) for line in out.splitlines() if "\t" in line]

    def lookup(self, cid: str, fresh: bool) -> Any:
        out = self._git("log", "-1", "--format=%H%x09%b", f"refs/tags/corr_{cid}").stdout
        return json.loads(out.split("\t", 1)[1])

    def process(self, v: Version, task: str) -> list[str]:
        meta = json.dumps(v.full_metadata(task))
        args = [str(self.root), str(v.dir), task, v.cid, v.phash, meta]
        return ["sh", "-c", NAIVE_SCRIPT, "naive", *args]

    def size(self) -> int:
        return disk(self.root / ".git")


def mlflow_cold() -> None:
    """Forget the stores and database engines MLflow keeps per URI, as a new process."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking._tracking_service import utils

    type(utils._tracking_store_registry)._get_store_with_resolved_uri.cache_clear()
    with SqlAlchemyStore._engine_map_lock:
        for engine in SqlAlchemyStore._engine_map.values():
            engine.dispose()
        SqlAlchemyStore._engine_map.clear()


MLFLOW_PROCESS = """\
import json, sys
import mlflow
uri, exp_id, src, task, cid, phash, params, metrics = sys.argv[1:]
mlflow.set_tracking_uri(uri)
with mlflow.start_run(experiment_id=exp_id):
    mlflow.log_params(json.loads(params))
    mlflow.log_metrics(json.loads(metrics))
    mlflow.set_tags({"correlation_id": cid, "prompt_hash": phash, "task_id": task})
    mlflow.log_artifacts(src)
"""


class MLflowPeer(Peer):
    def __init__(self, root: Path, kind: str) -> None:
        super().__init__(root)
        import mlflow
        from mlflow import MlflowClient

        self.mlflow, self.client_class = mlflow, MlflowClient
        self.name = f"mlflow {kind}"
        if kind == "sqlite":
            self.uri = f"sqlite:///{root / 'mlflow.db'}"
            location: str | None = (root / "artifacts").as_uri()
        else:
            self.uri = (root / "mlruns").as_uri()
            location = None  # the file store keeps them under the run
        self.exp_id = MlflowClient(self.uri).create_experiment("peers", location)
        self.client: Any = None

    def _client(self, fresh: bool) -> Any:
        if fresh:
            mlflow_cold()
            return self.client_class(self.uri)
        if self.client is None:
            self.client = self.client_class(self.uri)
        return self.client

    def record(self, v: Version, task: str, fresh: bool) -> None:
        mlflow = self.mlflow
        if fresh:
            mlflow_cold()
        mlflow.set_tracking_uri(self.uri)
        with mlflow.start_run(experiment_id=self.exp_id):
            mlflow.log_params(v.params)
            mlflow.log_metrics(v.metrics)
            mlflow.set_tags({"correlation_id": v.cid, "prompt_hash": v.phash, "task_id": task})
            mlflow.log_artifacts(str(v.dir))

    def list50(self, fresh: bool) -> list[Any]:
        return self._client(fresh).search_runs(
            [self.exp_id], max_results=50, order_by=["attributes.start_time DESC"]
        )

    def lookup(self, cid: str, fresh: bool) -> Any:
        runs = self._client(fresh).search_runs(
            [self.exp_id], filter_string=f"tags.correlation_id = '{cid}'", max_results=1
        )
        return runs[0] if runs else None

    def process(self, v: Version, task: str) -> list[str]:
        args = [self.uri, self.exp_id, str(v.dir), task, v.cid, v.phash]
        args += [json.dumps(v.params), json.dumps(v.metrics)]
        return [sys.executable, "-c", MLFLOW_PROCESS, *args]


DVC_PROCESS = """\
import shutil, sys
from pathlib import Path
from dvc.repo import Repo
root, src, cid, params, metrics = sys.argv[1:]
for f in Path(src).iterdir():
    shutil.copy(f, Path(root, "out") if f.suffix == ".csv" else Path(root))
Path(root, "params.yaml").write_text(params)
Path(root, "metrics.json").write_text(metrics)
with Repo(root) as repo:
    repo.experiments.save(name=cid)
"""


class DvcPeer(Peer):
    name = "dvc"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        from dvc.repo import Repo

        self.repo_class = Repo
        git(root, "init", "-q", "-b", "main")
        with contextlib.redirect_stdout(io.StringIO()):  # "Initialized DVC repository."
            Repo.init(str(root)).close()
        (root / "dvc.yaml").write_text("params:\n- params.yaml\nmetrics:\n- metrics.json\n")
        (root / "out").mkdir()
        (root / "out" / "trades.csv").write_text("time,trade_id,side,qty,price,pnl\n")
        (root / "out" / "equity_curve.csv").write_text("date,equity,drawdown\n")
        (root / "strategy.py").write_text("")
        (root / "params.yaml").write_text("correlation_id: none\n")
        (root / "metrics.json").write_text("{}\n")
        with Repo(str(root)) as repo:
            repo.add(str(root / "out"))
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "dvc project")
        self.repo: Any = None

    @staticmethod
    def params_yaml(v: Version, task: str) -> str:
        values = {**v.params, "correlation_id": v.cid, "prompt_hash": v.phash, "task_id": task}
        return "".join(f"{k}: {json.dumps(val)}\n" for k, val in values.items())

    def _repo(self, fresh: bool) -> Any:
        if fresh:
            return self.repo_class(str(self.root))
        if self.repo is None:
            self.repo = self.repo_class(str(self.root))
        return self.repo

    def _done(self, repo: Any) -> None:
        if repo is not self.repo:
            repo.close()

    def record(self, v: Version, task: str, fresh: bool) -> None:
        for f in v.files:
            shutil.copy(f, self.root / "out" if f.suffix == ".csv" else self.root)
        (self.root / "params.yaml").write_text(self.params_yaml(v, task))
        (self.root / "metrics.json").write_text(json.dumps(v.metrics) + "\n")
        repo = self._repo(fresh)
        try:
            repo.experiments.save(name=v.cid)
        finally:
            self._done(repo)

    def _show(self, fresh: bool, revs: str | None) -> list[dict[str, Any]]:
        if fresh:
            import dvc.api

            return dvc.api.exp_show(repo=str(self.root), revs=revs)
        from dvc.repo.experiments.show import tabulate

        shown = self._repo(False).experiments.show(revs=None if revs is None else [revs])
        return tabulate(shown, fill_value=None)[0].as_dict()

    def list50(self, fresh: bool) -> list[Any]:
        return [row for row in self._show(fresh, None) if row["typ"] != "baseline"][:50]

    def lookup(self, cid: str, fresh: bool) -> Any:
        rows = self._show(fresh, cid)
        return next((r for r in rows if r["rev"] != "workspace"), None)

    def process(self, v: Version, task: str) -> list[str]:
        args = [str(self.root), str(v.dir), v.cid, self.params_yaml(v, task)]
        return [sys.executable, "-c", DVC_PROCESS, *args, json.dumps(v.metrics) + "\n"]

    def size(self) -> int:
        return disk(self.root / ".git", self.root / ".dvc" / "cache")

    def close(self) -> None:
        if self.repo is not None:
            self.repo.close()
            self.repo = None


def availability() -> dict[str, str | None]:
    """Each optional peer's module: None when importable, else why it is skipped."""
    reasons: dict[str, str | None] = {}
    for module in ("mlflow", "dvc"):
        if importlib.util.find_spec(module) is None:
            reasons[module] = (
                f"not installed in {sys.executable} (pip install -e '.[peers]' to compare)"
            )
            continue
        try:
            importlib.import_module(module)
            if module == "dvc":
                importlib.import_module("dvc.repo")
        except Exception as exc:  # a broken install is a skip too, with its reason
            reasons[module] = f"import failed: {type(exc).__name__}: {exc}"
        else:
            reasons[module] = None
    return reasons


def version_lines(reasons: dict[str, str | None]) -> list[str]:
    def ver(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    gitv = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    out = [
        f"python {platform.python_version()} ({sys.executable}), {os.cpu_count()} cores, {gitv}",
        f"pytest-artifact-store {ver('pytest-artifact-store')} (pygit2 {ver('pygit2')})",
    ]
    if reasons["mlflow"] is None:
        out.append(
            f"mlflow {ver('mlflow')} (SQLAlchemy {ver('SQLAlchemy')}, "
            f"sqlite {sqlite3.sqlite_version})"
        )
    else:
        out.append(f"mlflow: skipped: {reasons['mlflow']}")
    if reasons["dvc"] is None:
        out.append(f"dvc {ver('dvc')} (scmrepo {ver('scmrepo')}, dulwich {ver('dulwich')})")
    else:
        out.append(f"dvc: skipped: {reasons['dvc']}")
    return out


def quiet() -> None:
    warnings.filterwarnings("ignore")
    for name in ("mlflow", "alembic", "dvc", "scmrepo", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)


def rows(timings: dict[str, Timing], base: str, indent: str = "    ", width: int = 38) -> list[str]:
    """One line per variant: median (min, max, n) and its ratio to ``base``."""
    out = []
    for name, t in timings.items():
        r = t.median / timings[base].median if timings[base].median else float("inf")
        out.append(f"{indent}{name:<{width}} {t.cell()}  {r:6.2f}x")
    return out


def per_call(timings: dict[str, Timing], batch: dict[str, int]) -> dict[str, Timing]:
    return {name: Timing(name, [s / batch[name] for s in t.samples]) for name, t in timings.items()}


def batched(func: Callable[[], object], budget: float = LOOKUP_BUDGET) -> tuple[Any, int]:
    """``func`` repeated to fill about ``budget`` seconds (1-20 times): one call, and the
    count, measured after a warm-up call."""
    func()
    start = time.perf_counter()
    func()
    one = time.perf_counter() - start
    k = max(1, min(20, int(budget / max(one, 1e-6))))
    return (lambda: [func() for _ in range(k)]), k


def build(
    peers: list[tuple[Peer, str]], versions: int, work: Path, label: str
) -> tuple[dict[str, float], list[str]]:
    """Record ``versions`` versions through each peer's long-lived store, each version into
    every peer in turn (``task`` with ``{i}``: one task per version). Returns the seconds a
    version per peer, and the correlation ids."""
    spent = {p.name: 0.0 for p, _task in peers}
    ids = []
    for i in range(versions):
        v = Version(work, label, i)
        ids.append(v.cid)
        for peer, task in peers:
            start = time.perf_counter()
            peer.record(v, task.format(i=i), fresh=False)
            spent[peer.name] += time.perf_counter() - start
    return {name: total / versions for name, total in spent.items()}, ids


def history_section(
    peers: list[Peer], n: int, work: Path, label: str
) -> tuple[list[str], list[str]]:
    plan = [(p, "task_{i}" if "branches" in p.name else TASK) for p in peers]
    per_version, ids = build(plan, n, work, label)
    out = []
    for p in peers:
        r = per_version[p.name] / per_version[peers[0].name]
        out.append(
            f"    {p.name:<34} {n:>5} versions {per_version[p.name] * 1000:9.2f} ms a version"
            f"  {r:6.2f}x  {p.size() / 2**20:7.1f} MB on disk"
        )
    for p in peers:  # every history answers with what it was given
        for cid in (ids[0], ids[-1]):
            assert cid in json.dumps(p.lookup(cid, fresh=True), default=str), (p.name, cid)
        assert len(p.list50(fresh=True)) == min(50, n), p.name
    return out, ids


def query_groups(
    peers: list[Peer], call: Callable[[Peer, bool], object]
) -> dict[str, dict[str, Callable[[], object]]]:
    """The fresh and the long-lived variant of ``call`` for every peer (the naive script has
    no store object: it is in the fresh group only)."""
    groups: dict[str, dict[str, Callable[[], object]]] = {}
    for mode, fresh in (("fresh store object per call", True), ("long-lived", False)):
        groups[mode] = {
            p.name: (lambda p=p, f=fresh: call(p, f))
            for p in peers
            if fresh or not isinstance(p, NaiveGit)
        }
    return groups


def record_section(peers: list[Peer], work: Path, rounds: int) -> list[str]:
    out = [f"record one version in process ({rounds} rounds, interleaved; a new version each call)"]
    modes = (("fresh store object per call", True, "fresh"), ("long-lived", False, "long"))
    for mode, fresh, label in modes:
        pool = [Version(work / f"rec-{label}-{r}", f"rec-{label}", r) for r in range(rounds + 1)]

        def caller(peer: Peer, it: Iterator[Version], fresh: bool = fresh) -> Callable[[], None]:
            return lambda: peer.record(next(it), TASK, fresh)

        funcs = {p.name: caller(p, iter(pool)) for p in peers}
        if not fresh:
            funcs.pop("naive git")
        out.append(f"  {mode}")
        out += rows(interleaved(funcs, rounds), OURS)
    return out


def process_section(peers: list[Peer], work: Path, rounds: int, env: dict[str, str]) -> list[str]:
    out = [f"record one version, whole process ({rounds} rounds, interleaved)"]
    pool = [Version(work / f"proc-{r}", "proc", r) for r in range(rounds + 1)]
    names = {
        OURS: f"{OURS} (python -c, API)",
        "naive git": "naive git script (sh)",
    }
    funcs: dict[str, Callable[[], None]] = {
        "python -c pass (floor)": lambda: run_process([sys.executable, "-c", "pass"], work, env)
    }
    for peer in peers:
        it = iter(pool)
        name = names.get(peer.name, f"{peer.name} (python -c)")
        funcs[name] = lambda p=peer, it=it: run_process(p.process(next(it), TASK), work, env)
    out += rows(interleaved(funcs, rounds), names[OURS], indent="  ")
    return out


def query_section(
    title: str,
    groups: dict[str, dict[str, Callable[[], object]]],
    base: str,
    rounds: int,
    batch: bool,
) -> tuple[list[str], dict[str, Timing]]:
    out = [title]
    every: dict[str, Timing] = {}
    for mode, funcs in groups.items():
        counts = {name: 1 for name in funcs}
        if batch:
            for name, func in list(funcs.items()):
                funcs[name], counts[name] = batched(func)
        timings = per_call(interleaved(funcs, rounds), counts)
        note = ""
        if batch:
            note = (
                " (per call; calls a sample: "
                + ", ".join(f"{n} {c}" for n, c in counts.items())
                + ")"
            )
        out.append(f"  {mode}{note}")
        out += rows(timings, base)
        every.update({f"{mode}: {n}": t for n, t in timings.items()})
    return out, every


def run(quick: bool = False) -> list[str]:
    small, large = (50, 300) if quick else (100, 1000)
    rounds, proc_rounds = (5, 3) if quick else (9, 5)
    reasons = availability()
    quiet()
    out = version_lines(reasons)
    has_mlflow, has_dvc = reasons["mlflow"] is None, reasons["dvc"] is None
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp, isolate_home():
        root = Path(tmp)
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        os.environ["DVC_NO_ANALYTICS"] = "1"
        os.environ["DVC_SITE_CACHE_DIR"] = str(root / "dvc-site-cache")
        # as on a user's machine, Python caches bytecode (some CI images turn that off;
        # then every process compiles each tool from source)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        sample = Version(root / "sample", "sample", 0)
        sizes = ", ".join(f"{f.name} {f.stat().st_size / 1024:.1f} KB" for f in sample.files)
        out.append(
            f"one version: {sizes}; {len(sample.metrics)} metrics, {len(sample.params)} params, "
            "one correlation id and prompt hash"
        )
        out.append("ratios: tool / artifact-store measured in the same group (>1: slower)")

        def make_peers(where: Path, dvc: bool = True) -> list[Peer]:
            peers: list[Peer] = [Ours(where / "ours"), NaiveGit(where / "naive")]
            if has_mlflow:
                peers += [
                    MLflowPeer(where / "sqlite", "sqlite"),
                    MLflowPeer(where / "file", "file"),
                ]
            if has_dvc and dvc:
                peers.append(DvcPeer(where / "dvc"))
            return peers

        recorders = make_peers(root / "record")
        out += record_section(recorders, root / "versions", rounds)
        for peer in recorders:
            peer.close()

        out.append(
            f"histories built through each tool's API, long-lived store objects: {small} and "
            f"{large} versions, each version recorded by every tool in turn"
            + (f" (dvc: {small} only)" if has_dvc else "")
        )
        fixtures: dict[int, list[Peer]] = {}
        ids: dict[int, list[str]] = {}
        found: dict[int, dict[str, Timing]] = {}
        for n in (small, large):
            peers = make_peers(root / f"h{n}", dvc=n == small)
            if n == large:
                peers[0].name = f"{OURS}, 1 branch"
                peers.insert(1, Ours(root / f"h{n}" / "ours-wide", f"{OURS}, {n} branches"))
            lines, ids[n] = history_section(peers, n, root / "versions" / "build", f"h{n}")
            out += lines
            fixtures[n] = peers
        if has_dvc:
            out.append(f"    dvc: not built at {large} versions (capped at {small})")
        for n, peers in fixtures.items():
            base = peers[0].name
            lines, timings = query_section(
                f"list the newest 50, history of {n} versions",
                query_groups(peers, lambda p, fresh: p.list50(fresh)),
                base,
                rounds,
                False,
            )
            out += lines
            found[n] = {f"list {k}": t for k, t in timings.items()}
            pick = random.Random(7).choice
            lines, timings = query_section(
                f"look up one version by correlation id, history of {n} versions",
                query_groups(peers, lambda p, fresh, c=ids[n], r=pick: p.lookup(r(c), fresh)),
                base,
                rounds,
                True,
            )
            out += lines
            found[n].update({f"lookup {k}": t for k, t in timings.items()})
        out.append(f"growth, history of {small} -> {large} versions (median ratio, same run)")
        for key, t in found[large].items():
            small_key = key.replace(f"{OURS}, 1 branch", OURS)
            if small_key in found[small]:
                r = t.median / found[small][small_key].median
                out.append(f"  {key:<66} {r:6.2f}x")
        for peers in fixtures.values():
            for peer in peers:
                peer.close()

        out += process_section(make_peers(root / "proc"), root / "versions", proc_rounds, env)
    return out


if __name__ == "__main__":
    cli(run, __doc__)
