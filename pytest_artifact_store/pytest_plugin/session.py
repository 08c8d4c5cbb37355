"""The per-session state of ``pytest --artifact-store``: test outcomes, then one commit.

Imported and registered only when the plugin is enabled (it imports the store and the
git layer). :func:`start` runs at configure time: it validates every setting
and opens the repository, so a mistake is a usage error before any test runs.
At session end, on the main process or the xdist controller only, a passing session's
files, a generated ``test_report.json`` and the recorded metrics become one commit.
"""

from __future__ import annotations

import contextlib
import filecmp
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
from pytest_artifact_store.capsule import capture
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.pytest_plugin import keys
from pytest_artifact_store.pytest_plugin import settings as settings_mod
from pytest_artifact_store.pytest_plugin.baseline import (
    WORKERINPUT_KEY,
    BaselineError,
    BaselineSource,
    for_worker,
    gate_lines,
)
from pytest_artifact_store.pytest_plugin.recorder import (
    ALT_REPORT_NAME,
    REPORT_NAME,
    WORKER_OUTPUT_KEY,
    ArtifactRecorder,
)
from pytest_artifact_store.pytest_plugin.resolve import looks_like_a_repository, resolve_store
from pytest_artifact_store.pytest_plugin.selection import Selection, session_start_ns, stale
from pytest_artifact_store.pytest_plugin.settings import Settings
from pytest_artifact_store.pytest_plugin.worker import StoreClient, WorkerGone
from pytest_artifact_store.store.config import ArtifactStoreConfig
from pytest_artifact_store.timestamps import format_utc

if TYPE_CHECKING:
    from pytest_artifact_store.compare.gate import GateResult
    from pytest_artifact_store.store import ArtifactStore

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
    resolved, store_config = resolve_store(config)
    # the whole configuration as pytest's process resolved it (environment defaults
    # included: a conftest may set GIT_AUTHOR_NAME in pytest_configure), and the
    # environment the worker's git commands must see
    kwargs = {
        f.name: os.fspath(value) if isinstance(value, os.PathLike) else value
        for f in fields(store_config)
        for value in [getattr(store_config, f.name)]
    }
    request = capsule_request(config, resolved)
    client = client or StoreClient()
    client.configure(
        kwargs,
        resolved.get("workflow_id"),
        resolved.get("task_id"),
        dict(os.environ),
        capsule=None if request is None else request.to_wire(),
    )
    source = baseline_source(config, resolved, store_config)
    session = ArtifactSession(config, resolved, store_config, client, recorder, source)
    session.capsule_request = request
    config.pluginmanager.register(session, PLUGIN_NAME)
    register_xdist(config, recorder, source)
    return session


def capsule_request(config: pytest.Config, resolved: Settings) -> capture.Request | None:
    """What the capsule's costly half needs (None: ``artifact_store_capsule = false``).
    Untracked files written from now on are the session's outputs, not its code."""
    if resolved.get("capsule") is False:
        return None
    inputs = resolved["inputs"]
    return capture.Request(
        rootdir=os.fspath(config.rootpath),
        invocation_dir=os.fspath(config.invocation_params.dir),
        inputs=list(inputs.value or []),
        input_base=os.fspath(inputs.base),
        started_ns=session_start_ns(),
    )


def start_gate(config: pytest.Config, recorder: ArtifactRecorder) -> GateSession:
    """``--artifact-fail-on`` without ``--artifact-store``: compare, commit nothing."""
    resolved, store_config = resolve_store(config, committing=False)
    source = baseline_source(config, resolved, store_config)
    session = GateSession(config, resolved, recorder, source)
    config.pluginmanager.register(session, PLUGIN_NAME)
    register_xdist(config, recorder, source)
    return session


def baseline_source(
    config: pytest.Config, resolved: Settings, store_config: ArtifactStoreConfig
) -> BaselineSource:
    """The session's baseline source (created once, closed with the config)."""
    source = config.stash.get(keys.BASELINE, None)
    if source is None:
        source = BaselineSource(resolved, store_config, for_worker(config))
        config.stash[keys.BASELINE] = source
        config.add_cleanup(source.close)
    return source


def register_xdist(
    config: pytest.Config, recorder: ArtifactRecorder, source: BaselineSource
) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(recorder, source), PLUGIN_NAME + "_xdist")


class XdistHooks:
    """Controller-side hooks that exist only when pytest-xdist is installed."""

    def __init__(self, recorder: ArtifactRecorder, source: BaselineSource) -> None:
        self.recorder = recorder
        self.source = source

    def pytest_configure_node(self, node: Any) -> None:
        """The controller decides the baseline; every worker's fixture reads that one.
        Without rules or a REF nothing may need it: this clone is looked at, the remote
        is not (a server that never answers must not hold up every xdist session)."""
        try:
            choice = self.source.choice(fetch=self.source.eager)
        except BaselineError:
            return  # each worker's fixture then says why
        if choice is None:
            return  # nothing here: a worker that needs it fetches it
        node.workerinput[WORKERINPUT_KEY] = choice.to_wire()

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        wire = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if wire:
            worker = getattr(getattr(node, "gateway", None), "id", "?")
            self.recorder.merge(wire, str(worker))


@dataclass
class OutcomeRecord:
    """One test's outcome over its phases (and the reruns before it)."""

    nodeid: str
    outcome: str = "passed"
    duration: float = 0.0
    seen: bool = False
    reruns: int = 0

    def update(self, report: pytest.TestReport) -> None:
        self.duration += report.duration
        outcome = _phase_outcome(report)
        if outcome is not None and (not self.seen or _RANK[outcome] >= _RANK[self.outcome]):
            self.outcome = outcome
            self.seen = True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "duration": round(self.duration, 6),
        }
        if self.reruns:
            out["reruns"] = self.reruns
        return out


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
    shown: bool = False

    def show(self, config: pytest.Config) -> None:
        """Print the artifact-store section (once)."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if self.shown or not self.lines:
            return
        self.shown = True
        if reporter is None:  # -p no:terminal: pytest says nothing, but a refusal is said
            sys.stderr.write("".join(f"artifact-store: {line}\n" for line in self.lines))
            return
        reporter.section("artifact-store", sep="-", bold=True)
        for index, line in enumerate(self.lines):
            reporter.line(line, red=self.refused and index == len(self.lines) - 1)


class GateSession:
    """``--artifact-fail-on`` with nothing to commit: judge the run against its baseline."""

    def __init__(
        self,
        config: pytest.Config,
        resolved: Settings,
        recorder: ArtifactRecorder,
        source: BaselineSource,
    ) -> None:
        self.config = config
        self.settings = resolved
        self.recorder = recorder
        self.source = source
        self.summary = Summary()

    @property
    def rules(self) -> list[str]:
        return list(self.settings.get("fail_on") or [])

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """A REF or rule that names nothing is a usage error before any test runs."""
        if self.source.eager:
            try:
                self.source.decided()
            except BaselineError as exc:
                raise pytest.UsageError(f"artifact-store: {exc}") from None

    def judge(self, metrics: dict[str, Any]) -> GateResult | None:
        """Judge ``metrics`` when rules are set or the fixture read the baseline (the
        summary gains the gate's table); CommitRefused when a rule is broken."""
        rules = self.rules
        if not rules and not (self.source.used or self.recorder.baseline_used):
            return None
        try:
            result = self.source.judge(metrics, rules)
        except BaselineError as exc:
            raise CommitRefused(f"baseline: {exc}") from None
        if rules:
            reason = self.source.reason if result is None else None
            self.summary.lines.extend(gate_lines(result, reason))
        if result is not None and result.broken:
            failures = "; ".join(j.message or "" for j in result.broken)
            raise CommitRefused(f"fail-on: {failures}")
        return result

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus != pytest.ExitCode.OK or not self.rules:
            return
        if self.config.getoption("collectonly", False):
            self.summary.lines.append("fail-on: not judged: --collect-only ran no tests")
            return
        try:
            self.judge(dict(self.recorder.metrics))
        except CommitRefused as exc:
            self.summary.lines.append(f"regression: {exc} (compare only: nothing is committed)")
            self.summary.refused = True
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self.summary.show(self.config)


@dataclass
class Pending:
    """A session that may be committed once every plugin has written its files."""

    session: pytest.Session
    status: str
    exitstatus: int
    counts: Counter[str]
    duration: float
    files: dict[str, Path]  # the fixture's files, staged where tmp_path retention cannot reach
    staging: Path


class ArtifactSession(GateSession):
    """Registered as a plugin when ``--artifact-store`` is given (controller/main only).

    The commit is made at ``pytest_unconfigure``: after ``--junitxml``, pytest-html,
    pytest-benchmark and coverage wrote this session's reports. The fixture's files are
    staged at ``pytest_sessionfinish``, before tmp_path retention may remove them.
    """

    def __init__(
        self,
        config: pytest.Config,
        resolved: Settings,
        store_config: ArtifactStoreConfig,
        client: StoreClient | None,
        recorder: ArtifactRecorder,
        source: BaselineSource,
    ) -> None:
        super().__init__(config, resolved, recorder, source)
        self.store_config = store_config
        self.client = client  # None: no worker (an export)
        self.local: ArtifactStore | None = None  # when the worker cannot be used
        self.tests: dict[str, OutcomeRecord] = {}
        self.collection_errors = 0
        self.warnings = 0
        self.selection = Selection.of(config)
        self.started_ns = session_start_ns()
        self.started = time.time()
        self.started_perf = time.perf_counter()
        self.pending: Pending | None = None
        self.capsule_request: capture.Request | None = None
        # read now: a test may change the environment (and monkeypatch restore it)
        self.capsule_env = capture.environment(resolved.get("capsule_env") or [])
        self.capsule_pytest_env = capture.pytest_environment()  # part of the command line

    # -- the repository ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Before any test runs: the worker has opened the repository, or says why not."""
        try:
            # the usual case: a repository is there, so the tests need not wait for the
            # worker's imports; when none is plausible, its exact reason is awaited
            client = self.worker()
            plausible = looks_like_a_repository(self.store_config.repo_path)
            error = None if plausible and not client.answered() else client.wait_ready()
        except WorkerGone:
            error = self._open_locally()
        if error is not None:
            repo = self.settings["repo"]
            raise settings_mod.usage_error(repo, str(repo.value), error)

    def worker(self) -> StoreClient:
        if self.client is None:
            raise WorkerGone
        return self.client

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
        super().pytest_sessionstart(session)
        self.started = time.time()
        self.started_perf = time.perf_counter()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors += 1

    def pytest_warning_recorded(self) -> None:
        self.warnings += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.tests.get(report.nodeid)
        if record is None:
            record = self.tests[report.nodeid] = OutcomeRecord(report.nodeid)
        if report.outcome == "rerun":  # type: ignore[comparison-overlap]
            record.reruns += 1
            record.duration += report.duration
            return
        record.update(report)

    # -- deciding, then committing ------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before tmp_path retention may delete added files
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        duration = time.perf_counter() - self.started_perf
        counts = self.counts()
        status, reason = self.session_status(int(exitstatus), counts)
        if reason is None:
            self.selection.deselected = self.recorder.deselected
            if self.recorder.last_failed is not None:
                self.selection.last_failed = self.recorder.last_failed
            reason = self.partial_reason()
        if reason is not None:
            self.summary.lines.append(f"nothing committed: {reason}")
            return
        try:
            staging = Path(tempfile.mkdtemp(prefix="artifact-store-"))
        except OSError as exc:
            self.refuse(session, _no_temp(exc))
            return
        try:
            files = self.stage_added_files(staging)
        except CommitRefused as exc:
            shutil.rmtree(staging, ignore_errors=True)
            self.refuse(session, str(exc))
            return
        self.pending = Pending(session, status, int(exitstatus), counts, duration, files, staging)

    def partial_reason(self) -> str | None:
        """Why a partial session is not committed (None: whole, or partial allowed)."""
        reasons = self.selection.reasons()
        if not reasons or self.settings.get("allow_partial"):
            return None
        setting = settings_mod.BY_NAME["allow_partial"]
        return (
            f"this session ran part of the suite ({'; '.join(reasons)}); run the whole "
            f"suite, or pass {setting.option} ({setting.ini_key} = true, "
            f"{setting.env_var}=1) to record it as a partial version"
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Every plugin has written its files: commit, then say what happened."""
        try:
            if self.pending is not None:
                self.finish(self.pending)
        finally:
            self.summary.show(config)
            if self.client is not None:
                self.client.close()
            if self.local is not None:
                self.local.close()

    def finish(self, pending: Pending) -> None:
        session = pending.session
        previous = _sigterm_interrupts()
        cfg = self.store_config
        if cfg.auto_push and sys.stderr.isatty():  # a push may take up to push_timeout
            sys.stderr.write(
                f"artifact-store: committing, then pushing to {cfg.remote_name} "
                f"(up to {cfg.push_timeout:g} s)...\n"
            )
            sys.stderr.flush()
        try:
            result = self.commit(pending)
        except CommitRefused as exc:
            self.refuse(session, str(exc))
            return
        except KeyboardInterrupt:  # Ctrl-C or a CI cancel (SIGTERM) during the commit
            self.interrupted(session)
            return
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            shutil.rmtree(pending.staging, ignore_errors=True)
        self.announce(session, result)

    def announce(self, session: pytest.Session, result: dict[str, Any]) -> None:
        """Say what was committed, and tell the ``pytest_artifact_store_committed`` hooks."""
        lines = describe_result(result, self.store_config.remote_name)
        if str(result.get("push_error") or "").startswith("no remote named"):
            lines[1] = self.no_remote_line(lines[1])
        self.summary.lines.extend(lines)
        try:
            self.config.hook.pytest_artifact_store_committed(config=self.config, result=result)
        except Exception as exc:
            self.refuse(session, f"pytest_artifact_store_committed hook failed: {_one_line(exc)}")

    def no_remote_line(self, full: str) -> str:
        """With auto_push on and no remote (a repository that stays local), the advice is
        given once per repository; later sessions say it in three words."""
        from pytest_artifact_store import git

        res = git.run_git(
            ["rev-parse", "--git-common-dir"], cwd=self.store_config.repo_path, check=False
        )
        if res.returncode:
            return full
        marker = Path(self.store_config.repo_path, res.stdout.strip(), "artifact-store")
        marker = marker / "no-remote-said"
        if marker.exists():
            return f"push: local only (no remote {self.store_config.remote_name!r})"
        with contextlib.suppress(OSError):
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        return full + " (said once; or --artifact-no-push)"

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.pending is None:  # nothing left to do: say so now
            self.summary.show(self.config)

    def interrupted(self, session: pytest.Session) -> None:
        """Say whether the version landed; exit status 2 as pytest's own interrupts."""
        landed = self.local.last_commit if self.local is not None else None
        landed = landed or (self.client.landed if self.client is not None else None)
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

    def commit(self, pending: Pending) -> dict[str, Any]:
        if self.recorder.conflicts:
            raise CommitRefused(self.recorder.conflicts[0])
        files = self.collect_files(pending.files)
        report = self.test_report(pending)
        name = REPORT_NAME
        if REPORT_NAME in files:  # the user's own report: kept, ours goes beside it
            name = ALT_REPORT_NAME
            if name in files:
                raise CommitRefused(
                    f"both {REPORT_NAME} and {ALT_REPORT_NAME} are among the files, and the "
                    "plugin writes its report under one of them: rename one of yours"
                )
            self.summary.lines.append(
                f"note: {REPORT_NAME} is yours; the plugin's report is {ALT_REPORT_NAME}"
            )
        report_path = pending.staging / name
        try:
            report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommitRefused(_no_temp(exc)) from None
        files[name] = report_path
        metadata = self.metadata(pending.status, pending.duration)
        result = self.judge(metadata["test_metrics"])
        if result is not None:
            metadata["baseline"] = result.record()
        # a CI re-run with the same correlation id, same files and metrics, is a repeat:
        # the report's durations and what the plugin records about the run may differ
        volatile = [name, "baseline", "partial", "selection", capture.CAPSULE_KEY]
        volatile.append("test_metrics.duration_seconds")
        return self.store_commit(files, metadata, volatile)

    def metadata(self, status: str, duration: float) -> dict[str, Any]:
        metadata = dict(self.recorder.metadata)
        for key in ("agent_version", "llm_version"):  # set_metadata() wins over settings
            if self.settings.get(key) is not None:
                metadata.setdefault(key, self.settings.get(key))
        metadata["test_metrics"] = dict(self.recorder.metrics)
        # the seed's metric: the session's wall time (a metric of the tests' own wins)
        metadata["test_metrics"].setdefault("duration_seconds", round(duration, 3))
        metadata["test_status"] = status
        metadata["partial"] = self.selection.partial
        if self.selection.partial:
            metadata["selection"] = self.selection.record(len(self.tests))
        if self.capsule_request is not None:
            metadata[capture.CAPSULE_KEY] = self.capsule(self.capsule_request)
        try:
            self.config.hook.pytest_artifact_store_metadata(config=self.config, metadata=metadata)
        except Exception as exc:
            raise CommitRefused(
                f"pytest_artifact_store_metadata hook failed: {_one_line(exc)}"
            ) from None
        return metadata

    def capsule(self, request: capture.Request) -> dict[str, Any]:
        """The reproducibility capsule: the worker's half (captured while the tests ran;
        in this process when there is no worker) and what this process knows."""
        try:
            try:
                captured = self.worker().capsule()
            except WorkerGone:
                captured = capture.capture(request)
        except (ArtifactStoreError, OSError) as exc:
            raise CommitRefused(f"cannot record the capsule: {_one_line(exc)}") from None
        for pattern in (captured.get("inputs") or {}).get("unmatched") or []:
            self.summary.lines.append(f"note: input {pattern} matched no files")
        return capture.assemble(
            captured,
            args=self.selection.args,
            node_ids=self.tests,
            pytest_version=pytest.__version__,
            seeds=self.recorder.seeds,
            env=self.capsule_env,
            pytest_env=self.capsule_pytest_env,
        )

    def store_commit(
        self, files: dict[str, Path], metadata: dict[str, Any], volatile: list[str]
    ) -> dict[str, Any]:
        get = self.settings.get
        arguments = {
            "volatile": volatile,
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
                    return self.worker().commit(**arguments)
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

    def stage_added_files(self, staging: Path) -> dict[str, Path]:
        """The fixture's files (outputs: written during this session), linked or copied
        into ``staging`` so tmp_path retention cannot remove them before the commit."""
        staged: dict[str, Path] = {}
        now = session_start_ns()
        for name, path in self.recorder.files.items():
            if not path.is_file():
                raise CommitRefused(
                    f"{path}, added by artifact_store.add() as {name!r}, no longer exists "
                    "(keep added files until the session ends)"
                )
            why = stale(path, self.started_ns, now)
            if why is not None:
                raise CommitRefused(
                    f"{why}: files added with artifact_store.add() are outputs of this "
                    "session; list inputs in artifact_store_files instead"
                )
            for other in self.recorder.alternates.get(name, []):
                if not other.is_file() or not filecmp.cmp(path, other, shallow=False):
                    raise CommitRefused(
                        f"{name!r} was added with different contents by two xdist workers "
                        f"({path} and {other})"
                    )
            target = staging / "added" / str(len(staged)) / Path(name).name
            try:
                target.parent.mkdir(parents=True)
                try:
                    os.link(path, target)
                except OSError:
                    shutil.copy2(path, target)
            except OSError as exc:
                raise CommitRefused(_no_temp(exc)) from None
            staged[name] = target
        return staged

    def collect_files(self, added: dict[str, Path]) -> dict[str, Path]:
        """{name in the task directory: source}: inputs (artifact_store_files), outputs
        (artifact_store_outputs: written during this session), then the fixture's files."""
        files: dict[str, Path] = {}
        now = session_start_ns()
        for setting in ("files", "outputs"):
            patterns = self.settings[setting]
            for pattern in patterns.value or []:
                where = f"{pattern} (in {patterns.origin})"
                matches = capture.glob_files(pattern, patterns.base)
                if not matches and (setting == "outputs" or not capture.has_magic(pattern)):
                    missing = f"{where} does not exist in {patterns.base}"
                    if setting == "outputs":
                        missing += " (an output the tests must write during the session)"
                    raise CommitRefused(missing)
                if not matches:
                    self.summary.lines.append(f"note: {pattern} matched no files")
                for name, path in matches:
                    why = stale(path, self.started_ns, now) if setting == "outputs" else None
                    if why is not None:
                        raise CommitRefused(f"{why}: it is left from an earlier run ({where})")
                    _put(files, name, path, where)
        for name, path in added.items():
            _put(files, name, path, "artifact_store.add()")
        return files

    def test_report(self, pending: Pending) -> dict[str, Any]:
        counts = pending.counts
        tests = sorted(self.tests.values(), key=lambda r: r.nodeid)
        return {
            "status": pending.status,
            "exitstatus": pending.exitstatus,
            **{outcome: counts[outcome] for outcome in OUTCOMES},
            "total": sum(counts.values()),
            "flaky": sum(1 for r in tests if r.reruns and r.outcome == "passed"),
            "reruns": sum(r.reruns for r in tests),
            "warnings": self.warnings,
            "collection_errors": self.collection_errors,
            "partial": self.selection.partial,
            "selection": self.selection.record(len(tests)),
            "random_seed": _random_seed(self.config),
            "duration": round(pending.duration, 6),
            "started": format_utc(datetime.fromtimestamp(self.started, timezone.utc)),
            "pytest_version": pytest.__version__,
            "python_version": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "platform": sys.platform,
            "plugins": _plugin_versions(self.config),
            "tests": [r.to_json() for r in tests],
        }


def _random_seed(config: pytest.Config) -> int | None:
    """pytest-randomly's seed of this run (``-p randomly -p "randomly_seed=N"`` repeats it)."""
    seed = getattr(config.option, "randomly_seed", None)
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _plugin_versions(config: pytest.Config) -> dict[str, str]:
    """{distribution: version} of every plugin pytest loaded from an installed package."""
    found: dict[str, str] = {}
    for _plugin, dist in config.pluginmanager.list_plugin_distinfo():
        name = getattr(dist, "project_name", None) or dist.metadata["Name"]
        found[str(name)] = str(dist.version)
    return dict(sorted(found.items()))


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
    if result.get("created", True):
        lines = [f"committed {len(files)} files to {result.get('branch')} at {sha} ({tags})"]
    else:
        name = next(iter(result.get("tags") or []), sha)
        lines = [
            f"already committed as {name} ({sha}) on {result.get('branch')}: this run's files "
            "and metrics are the same (an idempotent repeat; nothing new committed)"
        ]
    if result.get("pushed"):
        lines.append(f"push: pushed to {remote}")
    else:
        lines.append(f"push: not pushed ({result.get('push_error') or 'auto_push is off'})")
    lines += [f"push: {note}" for note in result.get("push_notes") or []]
    events = result.get("events")
    if isinstance(events, dict):
        sent, left = len(events.get("delivered") or []), len(events.get("pending") or [])
        text = f"events: {sent} delivered"
        if left:
            text += f", {left} waiting in the outbox ('artifact-store events deliver' retries)"
        lines.append(text)
        lines += [f"events: {p}" for p in events.get("problems") or []]
    return lines
