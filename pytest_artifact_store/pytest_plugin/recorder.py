"""What the ``artifact_store`` fixture records: files, metrics and metadata of a session.

The recorder exists on every run (so the fixture works with the plugin off, committing
nothing); it imports no git code. Under pytest-xdist each worker has its own recorder,
sent to the controller as plain data (:meth:`to_wire`) and merged there (:meth:`merge`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError

if TYPE_CHECKING:
    from pytest_artifact_store.backtest import BacktestRecord

# Keys the plugin writes itself: recording them by hand would be silently overwritten.
RESERVED_METADATA = frozenset(
    {"test_metrics", "test_status", "baseline", "partial", "selection", "capsule"}
)
REPORT_NAME = "test_report.json"
# The plugin's report when the session commits a test_report.json of its own (the seed's
# Tester Agent writes one): the user's file is kept, the plugin's goes beside it.
ALT_REPORT_NAME = "pytest_report.json"

WORKER_OUTPUT_KEY = "artifact_store"  # config.workeroutput key: a worker's files and metrics


def _check_json(what: str, value: object) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValueError(
            f"{what} contains NaN or Infinity, which metadata.json cannot hold; "
            "record None (or a string) instead"
        ) from None
    except TypeError as exc:
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from None


@dataclass
class ArtifactRecorder:
    """Collects what tests hand to the ``artifact_store`` fixture during a session."""

    files: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int | str] = field(default_factory=dict)  # the capsule's ``seeds``
    # name -> other sources of that name seen in xdist workers (compared at commit time).
    alternates: dict[str, list[Path]] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    # items deselected (-k, -m, --deselect, --lf ...): every xdist worker sees all of them
    deselected: int = 0
    baseline_used: bool = False  # a test asked for the artifact_baseline fixture
    # whether --lf narrowed the collection (None: not known; xdist: the workers collect)
    last_failed: bool | None = None
    # the scratch directories of xdist workers' recorders: removed after the commit
    adopted: list[Path] = field(default_factory=list)

    def add(self, path: str | os.PathLike[str] | Any, name: str | None = None) -> str:
        """Commit ``path`` as ``name`` (default: its file name) in the task directory.

        The file is read at the end of the session, so keep it until then. Returns the name.
        A pandas DataFrame or Series is written as CSV (a default 0..n-1 index left out)
        into a directory the recorder keeps until the session ends: ``name`` is then
        required, and ``.csv`` is appended when it has no extension (``"trades"`` ->
        ``trades.csv``); another extension is refused.
        """
        from pytest_artifact_store.backtest import values

        if values.is_table(path):
            return self._add_table(path, name)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                "artifact_store.add(): expected a file path or a pandas DataFrame/Series, "
                f"got {values.type_name(path)}"
            )
        source = Path(path).absolute()
        if not source.is_file():
            problem = "is a directory" if source.is_dir() else "does not exist"
            raise FileNotFoundError(f"artifact_store.add(): {source} {problem}")
        target = source.name if name is None else name
        self._check_name(target, source)
        self.files[target] = source
        return target

    def _check_name(self, target: str, source: Path | None) -> None:
        """``target`` is a plain file name, not the plugin's, and free (or ``source``'s)."""
        try:
            naming.check_file_name("artifact name", target)
        except ArtifactStoreError as exc:
            raise ValueError(str(exc)) from None
        known = self.files.get(target)
        if known is not None and known != source:
            raise ValueError(
                f"artifact_store.add(): the name {target!r} is already used by {known}; "
                "pass name= to commit both"
            )

    def _add_table(self, table: Any, name: str | None) -> str:
        if name is None:
            raise ValueError(
                "artifact_store.add(): a pandas DataFrame or Series needs name= "
                "(the CSV file it is committed as, e.g. name='trades.csv')"
            )
        target = name if "." in name else f"{name}.csv"
        if not target.lower().endswith(".csv"):
            raise ValueError(
                f"artifact_store.add(): {name!r} names a DataFrame, which is written as CSV: "
                "end the name in .csv"
            )
        from pytest_artifact_store.backtest import values

        return self._add_bytes(target, values.table_csv(table))

    def _add_bytes(self, target: str, data: bytes) -> str:
        """Write ``data`` as ``target`` in the scratch directory and add it (name unused)."""
        self._check_name(target, None)
        path = self._scratch_directory() / target
        path.write_bytes(data)
        return self.add(path, target)

    def _scratch_directory(self) -> Path:
        """A temporary directory of this recorder's own, for the files it writes itself.

        Removed when the recorder goes (after the session's commit) or the process exits.
        Under pytest-xdist a worker's directory must outlive the worker (the controller
        reads its files at the end of the session), so it is left in the temp directory.
        """
        scratch: Path | None = getattr(self, "_scratch", None)
        if scratch is None:
            import shutil
            import tempfile
            import weakref

            scratch = Path(tempfile.mkdtemp(prefix="pytest-artifact-store-"))
            if "PYTEST_XDIST_WORKER" not in os.environ:
                weakref.finalize(self, shutil.rmtree, scratch, ignore_errors=True)
            self._scratch = scratch
        return scratch

    def cleanup(self, *, keep_own: bool = False) -> None:
        """Remove the scratch directories of the workers' recorders taken in by
        :meth:`merge` (their files are committed by now), and this one's unless
        ``keep_own`` (an xdist worker whose controller still has to read them)."""
        import shutil

        own: Path | None = getattr(self, "_scratch", None)
        for directory in [*self.adopted, *([own] if own and not keep_own else [])]:
            shutil.rmtree(directory, ignore_errors=True)
        self.adopted.clear()

    def record_metric(self, name: str, value: Any) -> None:
        """Record a test metric (a JSON value, usually a number) as ``test_metrics[name]``.

        numpy scalars and arrays, pandas Timestamp/Timedelta/Series and datetimes are
        converted (:func:`pytest_artifact_store.backtest.to_json`: durations in seconds,
        times as UTC ISO strings); NaN and Infinity are refused.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("artifact_store.record_metric(): name must be a non-empty string")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(
                f"artifact_store.record_metric(): metric {name!r} is {value}, which "
                "metadata.json cannot hold; record None instead"
            )
        from pytest_artifact_store.backtest import values

        value = values.to_json(value, what=f"artifact_store.record_metric(): metric {name!r}")
        _check_json(f"metric {name!r}", value)
        self.metrics[name] = value

    def record_seed(self, name: str, value: int | str) -> None:
        """Record the seed a test drew its randomness from (``random.seed``,
        ``numpy.random.default_rng``...) as the capsule's ``seeds[name]``, so that a later
        ``artifact-store reproduce`` knows it and a reader can tell what was random.

        ``value`` is an int or a string; the same name recorded twice (by two tests or two
        xdist workers) must have the same value.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("artifact_store.record_seed(): name must be a non-empty string")
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(
                f"artifact_store.record_seed(): seed {name!r} must be an int or a str, "
                f"got {type(value).__name__}"
            )
        known = self.seeds.get(name)
        if known is not None and known != value:
            raise ValueError(
                f"artifact_store.record_seed(): seed {name!r} was recorded as {known!r}; "
                f"give {value!r} another name"
            )
        self.seeds[name] = value

    def set_metadata(self, key: str, value: Any) -> None:
        """Add ``key: value`` (a JSON value) to the commit's metadata.json.

        Values are converted as by :meth:`record_metric`.
        """
        if not isinstance(key, str) or not key:
            raise ValueError("artifact_store.set_metadata(): key must be a non-empty string")
        if key in RESERVED_METADATA:
            raise ValueError(
                f"artifact_store.set_metadata(): {key!r} is written by the plugin "
                "(use record_metric() for test metrics)"
            )
        from pytest_artifact_store.backtest import values

        value = values.to_json(value, what=f"artifact_store.set_metadata(): {key!r}")
        _check_json(f"metadata {key!r}", value)
        self.metadata[key] = value

    def record_backtest(self, result: Any, *, prefix: str = "") -> BacktestRecord:
        """Record a backtest library's result: its metrics and its files, without glue.

        ``result`` is backtesting.py's stats (what ``Backtest.run()`` returns), a finished
        backtrader strategy or ``cerebro.run()``'s list, or a vectorbt Portfolio (see
        :func:`pytest_artifact_store.backtest.extract` for the names). Metrics go through
        :meth:`record_metric` (NaN becomes None); files (``trades.csv``,
        ``equity_curve.csv``...) are written where the recorder keeps them until the
        session ends and committed under their names. ``prefix`` is put before every
        metric and file name, to record two backtests in one session. Returns the record.
        """
        from pytest_artifact_store.backtest import extract

        record = extract(result)
        files = {f"{prefix}{name}": data for name, data in record.files.items()}
        for target in files:  # refuse before anything is recorded
            try:
                self._check_name(target, None)
            except ValueError as exc:
                raise ValueError(
                    f"artifact_store.record_backtest(): {target!r} is already recorded "
                    f"({exc}); to record two backtests, give each a prefix: "
                    "record_backtest(stats, prefix='goog_')"
                ) from None
        for target, data in files.items():
            self._add_bytes(target, data)
        for name, value in record.metrics.items():
            self.record_metric(f"{prefix}{name}", value)
        return record

    def to_wire(self) -> dict[str, Any]:
        """Plain data for ``config.workeroutput`` (execnet can only send builtins)."""
        return {
            "files": {name: str(path) for name, path in self.files.items()},
            "metrics": dict(self.metrics),
            "metadata": dict(self.metadata),
            "seeds": dict(self.seeds),
            "deselected": self.deselected,
            "baseline_used": self.baseline_used,
            "last_failed": self.last_failed,
            "scratch": str(getattr(self, "_scratch", "") or "") or None,
        }

    def _take(
        self, what: str, known: dict[str, Any], values: dict[str, Any], worker: str, hint: str = ""
    ) -> None:
        """A worker's values into ``known``; one recorded differently is a conflict."""
        for key, value in values.items():
            if key in known and known[key] != value:
                self.conflicts.append(
                    f"{what} {key!r} was recorded as {known[key]!r} and as {value!r} "
                    f"(in worker {worker}){hint}"
                )
            known.setdefault(key, value)

    def merge(self, wire: dict[str, Any], worker: str) -> None:
        """Take in a worker's recordings; conflicting values are kept for the commit to refuse."""
        # each worker collects (and deselects from) the whole suite: the most, not the sum
        self.deselected = max(self.deselected, int(wire.get("deselected", 0)))
        self.baseline_used = self.baseline_used or bool(wire.get("baseline_used"))
        if wire.get("last_failed") is not None:
            self.last_failed = bool(self.last_failed) or bool(wire["last_failed"])
        if wire.get("scratch"):
            self.adopted.append(Path(wire["scratch"]))
        for name, raw in wire.get("files", {}).items():
            source = Path(raw)
            known = self.files.setdefault(name, source)
            if known != source:
                self.alternates.setdefault(name, []).append(source)
        self._take("metric", self.metrics, wire.get("metrics", {}), worker)
        hint = "; name each worker's seed apart"
        self._take("seed", self.seeds, wire.get("seeds", {}), worker, hint)
        for key, value in wire.get("metadata", {}).items():
            # Values are not shown: metadata may hold what the secret scan must judge first.
            if key in self.metadata and self.metadata[key] != value:
                self.conflicts.append(
                    f"metadata {key!r} was set to different values (in worker {worker})"
                )
            self.metadata.setdefault(key, value)
