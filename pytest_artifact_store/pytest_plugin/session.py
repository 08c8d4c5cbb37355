"""The per-session state of ``pytest --artifact-store``: test outcomes, then one commit.

Imported and registered only when the plugin is enabled (it imports the store and the
git layer). :func:`start` runs at configure time: it validates every setting
and opens the repository, so a mistake is a usage error before any test runs.
At session end, on the main process or the xdist controller only, a passing session's
files, a generated ``test_report.json`` and the recorded metrics become one commit.
"""

from __future__ import annotations

import filecmp
import glob
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.pytest_plugin import settings as settings_mod
from pytest_artifact_store.pytest_plugin.recorder import (
    REPORT_NAME,
    WORKER_OUTPUT_KEY,
    ArtifactRecorder,
)
from pytest_artifact_store.pytest_plugin.settings import Settings, Value
from pytest_artifact_store.pytest_plugin.worker import StoreClient, WorkerGone
from pytest_artifact_store.store.config import ArtifactStoreConfig

if TYPE_CHECKING:
    from pytest_artifact_store.store import ArtifactStore
from pytest_artifact_store.timestamps import format_utc

PLUGIN_NAME = "artifact_store_session"
OUTCOMES = ("passed", "failed", "skipped", "error", "xfailed", "xpassed")
# A later phase's outcome replaces an earlier one unless it ranks lower.
_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "xpassed": 1, "failed": 2, "error": 3}


class CommitRefused(Exception):
    """Why the artifacts were not committed, as one line for the terminal summary."""


def start(
    config: pytest.Config, recorder: ArtifactRecorder, client: StoreClient | None = None
) -> ArtifactSession:
    """Validate the settings, start the store's worker process (it opens the repository
    and warms up while the tests are collected and run) and register the session plugin."""
    resolved = settings_mod.resolve(config)
    repo = resolved["repo"]
    if repo.value is None:
        repo = Value(repo.setting, find_repository(repo.base), "default", repo.base)
        resolved.values["repo"] = repo
    store_config = build_store_config(resolved)
    # the whole configuration as pytest's process resolved it (environment defaults
    # included: a conftest may set GIT_AUTHOR_NAME in pytest_configure), and the
    # environment the worker's git commands must see
    kwargs = {
        f.name: os.fspath(value) if isinstance(value, os.PathLike) else value
        for f in fields(store_config)
        for value in [getattr(store_config, f.name)]
    }
    client = client or StoreClient()
    client.configure(kwargs, resolved.get("workflow_id"), resolved.get("task_id"), dict(os.environ))
    session = ArtifactSession(config, resolved, store_config, client, recorder)
    config.pluginmanager.register(session, PLUGIN_NAME)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(recorder), PLUGIN_NAME + "_xdist")
    return session


def _looks_like_a_repository(path: Path) -> bool:
    """A git directory at or above ``path``, or ``path`` a bare repository (a hint only:
    the worker opens it for real)."""
    if not path.is_dir():
        return False
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return True
    return any((p / ".git").exists() for p in (path, *path.parents))


def find_repository(start_dir: Path) -> Path:
    """The nearest directory at or above ``start_dir`` with a ``.git`` (else ``start_dir``)."""
    for candidate in (start_dir, *start_dir.parents):
        if (candidate / ".git").exists():
            return candidate
    return start_dir


def build_store_config(resolved: Settings) -> ArtifactStoreConfig:
    """The store's configuration; a bad value is blamed on the setting it came from."""
    try:
        ArtifactStoreConfig()
    except ArtifactStoreError as exc:  # e.g. a bad GIT_PUSH_TIMEOUT in the environment
        raise pytest.UsageError(f"artifact-store: {exc}") from None
    for value in resolved.values.values():
        field_name = value.setting.config_field
        if field_name and value.value is not None:
            try:
                ArtifactStoreConfig(**{field_name: value.value})
            except ArtifactStoreError as exc:
                raise settings_mod.usage_error(value, value.value, str(exc)) from None
    return ArtifactStoreConfig(**resolved.store_config_kwargs())


class XdistHooks:
    """Controller-side hooks that exist only when pytest-xdist is installed."""

    def __init__(self, recorder: ArtifactRecorder) -> None:
        self.recorder = recorder

    def pytest_testnodedown(self, node: Any, error: object) -> None:

        wire = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if wire:
            worker = getattr(getattr(node, "gateway", None), "id", "?")
            self.recorder.merge(wire, str(worker))


@dataclass
class OutcomeRecord:
    """One test's outcome over its phases."""

    nodeid: str
    outcome: str = "passed"
    duration: float = 0.0
    seen: bool = False

    def update(self, report: pytest.TestReport) -> None:
        self.duration += report.duration
        outcome = _phase_outcome(report)
        if outcome is not None and (not self.seen or _RANK[outcome] >= _RANK[self.outcome]):
            self.outcome = outcome
            self.seen = True


def _phase_outcome(report: pytest.TestReport) -> str | None:
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.passed:
            return "xpassed" if xfail else "passed"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "failed"
    if report.failed:
        return "error"
    if report.skipped:  # skipped (or xfail(run=False)) in setup
        return "xfailed" if xfail else "skipped"
    return None


@dataclass
class Summary:
    """What the terminal summary says: committed lines, or the reason nothing was."""

    lines: list[str] = field(default_factory=list)
    refused: bool = False


class ArtifactSession:
    """Registered as a plugin when ``--artifact-store`` is given (controller/main only)."""

    def __init__(
        self,
        config: pytest.Config,
        resolved: Settings,
        store_config: ArtifactStoreConfig,
        client: StoreClient,
        recorder: ArtifactRecorder,
    ) -> None:
        self.config = config
        self.settings = resolved
        self.store_config = store_config
        self.client = client
        self.local: ArtifactStore | None = None  # when the worker cannot be used
        self.recorder = recorder
        self.tests: dict[str, OutcomeRecord] = {}
        self.collection_errors = 0
        self.started = time.time()
        self.started_perf = time.perf_counter()
        self.summary = Summary()

    # -- the repository ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Before any test runs: the worker has opened the repository, or says why not."""
        try:
            # the usual case: a repository is there, so the tests need not wait for the
            # worker's imports; when none is plausible, its exact reason is awaited
            plausible = _looks_like_a_repository(self.store_config.repo_path)
            error = None if plausible and not self.client.answered() else self.client.wait_ready()
        except WorkerGone:
            error = self._open_locally()
        if error is not None:
            repo = self.settings["repo"]
            raise settings_mod.usage_error(repo, str(repo.value), error)

    def _open_locally(self) -> str | None:
        """The store in this process (no worker): None, or why the repository is no good."""
        if self.local is None:
            from pytest_artifact_store.store import ArtifactStore

            try:
                self.local = ArtifactStore(self.store_config)
            except ArtifactStoreError as exc:
                return str(exc)
        return None

    # -- collecting outcomes ---------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = time.time()
        self.started_perf = time.perf_counter()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.outcome == "rerun":  # type: ignore[comparison-overlap]
            return
        record = self.tests.get(report.nodeid)
        if record is None:
            record = self.tests[report.nodeid] = OutcomeRecord(report.nodeid)
        record.update(report)

    # -- the commit ---------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before tmp_path retention may delete added files
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        duration = time.perf_counter() - self.started_perf
        counts = self.counts()
        status, reason = self.session_status(int(exitstatus), counts)
        if reason is not None:
            self.summary.lines.append(f"nothing committed: {reason}")
            return
        previous = _sigterm_interrupts()
        try:
            result = self.commit(status, int(exitstatus), counts, duration)
        except CommitRefused as exc:
            self.refuse(session, str(exc))
            return
        except KeyboardInterrupt:  # Ctrl-C or a CI cancel (SIGTERM) during the commit
            self.interrupted(session)
            return
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        self.summary.lines.extend(describe_result(result, self.store_config.remote_name))
        try:
            self.config.hook.pytest_artifact_store_committed(config=self.config, result=result)
        except Exception as exc:
            self.refuse(session, f"pytest_artifact_store_committed hook failed: {_one_line(exc)}")

    def interrupted(self, session: pytest.Session) -> None:
        """Say whether the version landed; exit status 2 as pytest's own interrupts."""
        landed = self.local.last_commit if self.local is not None else self.client.landed
        if landed:
            get = self.settings.get
            branch = naming.branch_name(
                self.store_config.branch_prefix, str(get("workflow_id")), str(get("task_id"))
            )
            self.summary.lines.append(
                f"interrupted — version {landed[:10]} landed on {branch}; if its push did "
                "not finish, run 'artifact-store push'"
            )
        else:
            self.summary.lines.append("interrupted — nothing committed")
        self.summary.refused = True
        session.exitstatus = pytest.ExitCode.INTERRUPTED

    def refuse(self, session: pytest.Session, reason: str) -> None:
        self.summary.lines.append(f"commit refused: {reason}")
        self.summary.refused = True
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def counts(self) -> Counter[str]:
        counts: Counter[str] = Counter({outcome: 0 for outcome in OUTCOMES})
        counts.update(record.outcome for record in self.tests.values())
        return counts

    def session_status(self, exitstatus: int, counts: Counter[str]) -> tuple[str, str | None]:
        """("passed" | "failed", None) when committing, else (status, why not)."""
        ran = sum(counts[o] for o in ("passed", "failed", "error", "xpassed"))
        failed = counts["failed"] + counts["error"] + self.collection_errors
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            return "interrupted", "the session was interrupted"
        if exitstatus in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
            return "error", f"pytest stopped with exit status {exitstatus}"
        if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED or ran == 0:
            skipped = counts["skipped"] + counts["xfailed"]
            return "no tests", "no tests ran" + (f" ({skipped} skipped)" if skipped else "")
        if failed or exitstatus != pytest.ExitCode.OK:
            if self.require_test_passed:
                return "failed", f"tests failed ({format_counts(counts)})"
            return "failed", None
        return "passed", None

    @property
    def require_test_passed(self) -> bool:
        return self.settings.get("require_test_passed") is not False

    def commit(
        self, status: str, exitstatus: int, counts: Counter[str], duration: float
    ) -> dict[str, Any]:
        if self.recorder.conflicts:
            raise CommitRefused(self.recorder.conflicts[0])
        files = self.collect_files()
        try:
            report_dir = Path(tempfile.mkdtemp(prefix="artifact-store-"))
        except OSError as exc:
            raise CommitRefused(_no_temp(exc)) from None
        try:
            report = self.test_report(status, exitstatus, counts, duration)
            report_path = report_dir / REPORT_NAME
            try:
                report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            except OSError as exc:
                raise CommitRefused(_no_temp(exc)) from None
            files[REPORT_NAME] = report_path
            metadata = self.metadata(status)
            return self.store_commit(files, metadata)
        finally:
            shutil.rmtree(report_dir, ignore_errors=True)

    def metadata(self, status: str) -> dict[str, Any]:
        metadata = dict(self.recorder.metadata)
        metadata["test_metrics"] = dict(self.recorder.metrics)
        metadata["test_status"] = status
        try:
            self.config.hook.pytest_artifact_store_metadata(config=self.config, metadata=metadata)
        except Exception as exc:
            raise CommitRefused(
                f"pytest_artifact_store_metadata hook failed: {_one_line(exc)}"
            ) from None
        return metadata

    def store_commit(self, files: dict[str, Path], metadata: dict[str, Any]) -> dict[str, Any]:
        get = self.settings.get
        arguments = {
            "workflow_id": get("workflow_id"),
            "task_id": get("task_id"),
            "files": {name: os.fspath(path) for name, path in files.items()},
            "metadata": metadata,
            "correlation_id": get("correlation_id"),
            "prompt_hash": get("prompt_hash"),
        }
        try:
            if self.local is None:
                try:
                    return self.client.commit(**arguments)
                except WorkerGone:  # it ended (or never started): commit in this process
                    error = self._open_locally()
                    if error is not None:
                        raise ArtifactStoreError(error) from None
            assert self.local is not None
            return self.local.commit_artifacts(**arguments)
        except ArtifactStoreError as exc:  # SecretDetectedError's message is masked
            raise CommitRefused(_one_line(exc)) from None
        except Exception as exc:  # never a traceback in the summary of a long backtest
            raise CommitRefused(f"{type(exc).__name__}: {_one_line(exc)}") from None

    # -- what to commit -----------------------------------------------------------------

    def collect_files(self) -> dict[str, Path]:
        """{name in the task directory: source}: the ini/option globs, then fixture files."""
        files: dict[str, Path] = {}
        patterns = self.settings["files"]
        for pattern in patterns.value or []:
            matches = _glob(pattern, patterns.base)
            if not matches and not _has_magic(pattern):
                raise CommitRefused(
                    f"{pattern} (in {patterns.origin}) does not exist in {patterns.base}"
                )
            if not matches:
                self.summary.lines.append(f"note: {pattern} matched no files")
            for name, path in matches:
                _put(files, name, path, f"{pattern} (in {patterns.origin})")
        for name, path in self.recorder.files.items():
            if not path.is_file():
                raise CommitRefused(
                    f"{path}, added by artifact_store.add() as {name!r}, no longer exists "
                    "(keep added files until the session ends)"
                )
            for other in self.recorder.alternates.get(name, []):
                if not other.is_file() or not filecmp.cmp(path, other, shallow=False):
                    raise CommitRefused(
                        f"{name!r} was added with different contents by two xdist workers "
                        f"({path} and {other})"
                    )
            _put(files, name, path, "artifact_store.add()")
        return files

    def test_report(
        self, status: str, exitstatus: int, counts: Counter[str], duration: float
    ) -> dict[str, Any]:
        tests = sorted(self.tests.values(), key=lambda r: r.nodeid)
        return {
            "status": status,
            "exitstatus": exitstatus,
            **{outcome: counts[outcome] for outcome in OUTCOMES},
            "total": sum(counts.values()),
            "collection_errors": self.collection_errors,
            "duration": round(duration, 6),
            "started": format_utc(datetime.fromtimestamp(self.started, timezone.utc)),
            "pytest_version": pytest.__version__,
            "python_version": platform.python_version(),
            "platform": sys.platform,
            "tests": [
                {"nodeid": r.nodeid, "outcome": r.outcome, "duration": round(r.duration, 6)}
                for r in tests
            ],
        }

    # -- reporting ----------------------------------------------------------------------

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.summary.lines:
            return
        terminalreporter.section("artifact-store", sep="-", bold=True)
        for index, line in enumerate(self.summary.lines):
            red = self.summary.refused and index == len(self.summary.lines) - 1
            terminalreporter.line(line, red=red)


def _glob(pattern: str, base: Path) -> list[tuple[str, Path]]:
    """(name in the task directory, file) for each match; a directory gives its files."""
    expanded = os.path.expanduser(pattern)
    if _has_magic(expanded):
        found = glob.glob(expanded, root_dir=base, recursive=True)
        matches = sorted(base / m for m in found)
    else:
        path = Path(expanded) if os.path.isabs(expanded) else base / expanded
        matches = [path] if path.exists() else []
    out: list[tuple[str, Path]] = []
    for match in matches:
        if match.is_dir():
            out.extend(_files_under(match))
        elif match.is_file():
            out.append((match.name, match))
    return out


def _files_under(top: Path) -> list[tuple[str, Path]]:
    # Like the library's directory arguments: files at their paths relative to ``top``.
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            path = Path(dirpath, name)
            out.append((path.relative_to(top).as_posix(), path))
    return out


def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _put(files: dict[str, Path], name: str, path: Path, where: str) -> None:
    known = files.get(name)
    if known is not None and known.resolve() != path.resolve():
        raise CommitRefused(
            f"two files would both be committed as {name!r}: {known} and {path} (from {where})"
        )
    files[name] = path


def _sigterm_interrupts() -> Any:
    """While the commit runs, SIGTERM (a CI cancel) interrupts like Ctrl-C, so git's
    children are stopped and temporary files removed; returns the handler to restore
    (None where signals cannot be set: not the main thread)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        return None


def _no_temp(exc: OSError) -> str:
    where = exc.filename or tempfile.gettempdir()
    return (
        f"cannot write the test report in {where}: {exc.strerror or exc}; free space there "
        "or point TMPDIR at a writable disk (nothing was committed)"
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def format_counts(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o]) or "no tests"


def describe_result(result: dict[str, Any], remote: str) -> list[str]:
    sha = str(result.get("commit_sha", ""))[:10]
    files = result.get("files") or []
    tags = ", ".join(result.get("tags") or []) or "no tags"
    verb = "committed" if result.get("created", True) else "already committed (same content)"
    lines = [f"{verb} {len(files)} files to {result.get('branch')} at {sha} ({tags})"]
    if result.get("pushed"):
        lines.append(f"push: pushed to {remote}")
    else:
        lines.append(f"push: not pushed ({result.get('push_error') or 'auto_push is off'})")
    lines += [f"push: {note}" for note in result.get("push_notes") or []]
    return lines
