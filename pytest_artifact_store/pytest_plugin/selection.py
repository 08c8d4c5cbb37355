"""Whether a session ran the whole suite, and whether its outputs are its own.

A version says "these outputs came from this strategy and the suite passed on them",
so a session that ran part of the suite (``-k``, ``-m``, ``--lf``, ``--deselect``, node
ids or paths narrower than ``testpaths``) is not committed unless partial versions are
allowed, and a declared output written before the session started is refused.
"""

from __future__ import annotations

import glob
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_artifact_store.timestamps import format_utc


@dataclass
class Selection:
    """What part of the suite a session ran, and why that is not all of it."""

    args: list[str]
    keyword: str
    markexpr: str
    last_failed: bool
    narrowing: list[str] = field(default_factory=list)  # arguments narrower than the suite
    deselected: int = 0

    @classmethod
    def of(cls, config: pytest.Config) -> Selection:
        """Read at configure time: ``--lf``'s record of failures is still the last run's
        (a first guess: :func:`last_failed_narrowed` tells once the tests are collected)."""
        lf_plugin = config.pluginmanager.get_plugin("lfplugin")
        last_failed = bool(config.getoption("lf", False) and getattr(lf_plugin, "lastfailed", None))
        return cls(
            args=[str(a) for a in config.invocation_params.args],
            keyword=str(config.getoption("keyword", "") or ""),
            markexpr=str(config.getoption("markexpr", "") or ""),
            last_failed=last_failed,
            narrowing=narrowing_args(config),
        )

    def reasons(self) -> list[str]:
        """Why this session is partial (empty: it ran the whole suite)."""
        out = []
        if self.deselected:
            how = [f"-k {self.keyword!r}"] if self.keyword else []
            how += [f"-m {self.markexpr!r}"] if self.markexpr else []
            via = f" by {' and '.join(how)}" if how else ""
            noun = "test" if self.deselected == 1 else "tests"
            out.append(f"{self.deselected} {noun} deselected{via}")
        if self.last_failed:
            out.append("--lf ran only the tests that failed last time")
        if self.narrowing:
            out.append(f"the arguments {' '.join(self.narrowing)} narrow the suite")
        return out

    @property
    def partial(self) -> bool:
        return bool(self.reasons())

    def record(self, selected: int) -> dict[str, Any]:
        """The ``selection`` kept in test_report.json (and metadata of a partial version)."""
        return {
            "args": self.args,
            "keyword": self.keyword or None,
            "markexpr": self.markexpr or None,
            "selected": selected,
            "deselected": self.deselected,
            "last_failed": self.last_failed,
            "narrowed_by": self.reasons(),
        }


def last_failed_narrowed(config: pytest.Config) -> bool | None:
    """Whether ``--lf`` narrowed this process's collection, read once it is done (None:
    this pytest does not say). Failures recorded only for tests that no longer exist
    leave the suite whole: pytest then runs every test."""
    lf_plugin = config.pluginmanager.get_plugin("lfplugin")
    if not config.getoption("lf", False) or lf_plugin is None:
        return False
    if not hasattr(lf_plugin, "_previously_failed_count"):
        return None
    skipped_files = getattr(lf_plugin, "_skipped_files", 0) or 0
    return bool(lf_plugin._previously_failed_count) or skipped_files > 0


def _testpaths(config: pytest.Config) -> list[Path]:
    """The configured ``testpaths`` (globbed against the rootdir); empty when unset."""
    root = config.rootpath
    found: list[Path] = []
    for pattern in config.getini("testpaths") or []:
        found.extend(Path(p) for p in sorted(glob.glob(str(root / pattern), recursive=True)))
    return [p.resolve() for p in found]


def narrowing_args(config: pytest.Config) -> list[str]:
    """The command-line arguments that select less than the suite: node ids, and paths
    that leave part of ``testpaths`` out. Without ``testpaths`` the suite's extent is
    unknown: only node ids and single files count (a directory may hold every test)."""
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        return []
    if config.getoption("pyargs", False):
        return []  # module names: nothing to compare paths with
    base = config.invocation_params.dir
    given = (
        [str(a) for a in config.args] if config.args_source == pytest.Config.ArgsSource.ARGS else []
    )
    node_ids = [a for a in given if "::" in a]
    paths = {a: (base / a).resolve() for a in given if "::" not in a}
    roots = _testpaths(config)
    if not roots:
        return node_ids + [a for a, p in paths.items() if p.is_file()]
    covered = [r for r in roots if any(p == r or p in r.parents for p in paths.values())]
    if len(covered) == len(roots):
        return node_ids
    if not given:
        where = os.path.relpath(base, config.rootpath)
        return [f"(run in {where}/, not the rootdir: testpaths apply only there)"]
    return node_ids + list(paths)


def session_start_ns() -> int:
    """Now, on the clock the kernel stamps files with (it can lag time.time_ns() by a tick:
    a file written just after the session started must not look older than it)."""
    try:
        with tempfile.TemporaryFile() as probe:
            return os.fstat(probe.fileno()).st_mtime_ns
    except OSError:
        return int(datetime.now(timezone.utc).timestamp() * 1e9) - 20_000_000


# how far ahead of this machine's clock a file system's (a network server's) may run
FUTURE_TOLERANCE_NS = 2_000_000_000


def stale(path: Path, started_ns: int, now_ns: int | None = None) -> str | None:
    """Why ``path`` is not an output of this session (None when it was written during it:
    after ``started_ns``, and not after ``now_ns``, the file clock when checked; a time in
    the future, left by a clock that was ahead, shows nothing about when it was written)."""
    try:
        written = path.stat().st_mtime_ns
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror or exc}"
    now_ns = session_start_ns() if now_ns is None else now_ns
    when = _utc(written)
    if written > now_ns + FUTURE_TOLERANCE_NS:
        return (
            f"{path} was last written at {when}, later than now ({_utc(now_ns)}): its time "
            "cannot show that this session wrote it"
        )
    if written >= started_ns:
        return None
    return f"{path} was last written at {when}, before this session started ({_utc(started_ns)})"


def _utc(ns: int) -> str:
    return format_utc(datetime.fromtimestamp(ns / 1e9, timezone.utc))
