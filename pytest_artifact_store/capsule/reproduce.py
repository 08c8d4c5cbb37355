"""Re-running a version's session and comparing its outputs (``artifact-store reproduce``).

The recorded commit is checked out into a temporary linked worktree (``git worktree add
--detach``: the user's work tree, index and HEAD are never touched), the recorded pytest
command runs there with this interpreter and ``ARTIFACT_STORE_EXPORT`` set (the plugin
writes what it would commit and commits nothing), and the export is compared with the
stored version: every file byte for byte (the plugin's report by its tests' outcomes: its
durations and times always differ), every metric exactly (the session's wall time aside)
or within the given rules.
The worktree is removed afterwards, also on an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_artifact_store.capsule.capture import PYTEST_ENV, code_state
from pytest_artifact_store.capsule.verify import (
    Difference,
    capsule_of,
    compare_inputs,
    compare_packages,
    compare_python,
    short,
    version_summary,
)
from pytest_artifact_store.compare.diff import (
    Rule,
    evaluate_rule,
    metric_rows,
    parse_rule,
    resolve,
    task_files,
)
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.naming import DEFAULT_METADATA_FILENAME

if TYPE_CHECKING:
    from pytest_artifact_store.store import ArtifactStore

# the plugin's report: test_report.json, or pytest_report.json beside a report of the tests'
REPORTS = ("pytest_report.json", "test_report.json")
# what the plugin measures of the session itself (its wall time): never the same twice
TIMING_METRICS = frozenset({"duration_seconds"})
EXPORT_ENV = "ARTIFACT_STORE_EXPORT"
ADDOPTS_ENV = "PYTEST_ADDOPTS"
# options naming a path pytest (or a plugin of it) writes, the value apart or after '='
WRITTEN = frozenset(
    {"--basetemp", "--junitxml", "--junit-xml", "--report-log", "--html", "--log-file"}
    | {"--json-report-file", "--resultlog", "--result-log"}
)
_TOLERANCE = re.compile(r"(?P<metric>[^:\s]+):(?P<sign>[+-]?)(?P<amount>\d+(?:\.\d*)?|\.\d+)%?")
_SUMMARY = re.compile(
    r"\b\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b.* in [\d.]+s"
    r"|no tests ran.*"
)


# ---------------------------------------------------------------- rules
def parse_tolerance(text: str) -> list[Rule]:
    """``METRIC:N%`` or ``METRIC:N``: the metric may move N (percent) either way;
    ``METRIC:+N%``/``-N%``: one way only, as a ``--fail-on`` rule. METRIC ``*``: every
    metric without a rule of its own."""
    match = _TOLERANCE.fullmatch(text.strip())
    if match is None:
        raise ArtifactStoreError(
            f"invalid tolerance {text!r}: expected METRIC:N% or METRIC:N (either way), "
            "METRIC:+N% or METRIC:-N% (one way); METRIC * means every metric"
        )
    if match["sign"]:
        return [parse_rule(text)]
    unsigned = text.strip().replace(":", ":+", 1)
    return [parse_rule(unsigned), parse_rule(unsigned.replace(":+", ":-", 1))]


def rules_for(rules: Sequence[Rule], metric: str) -> list[Rule]:
    """The rules judging ``metric``: its own, else the ``*`` ones (named after it)."""
    own = [r for r in rules if r.metric == metric]
    return own or [replace(r, metric=metric) for r in rules if r.metric == "*"]


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class FileResult:
    name: str
    status: str  # identical, same outcomes, differs, outcomes differ, missing, added
    detail: str | None = None
    ignored: bool = False  # --ignore: reported, not counted

    @property
    def ok(self) -> bool:
        return self.status in ("identical", "same outcomes") or self.ignored

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class MetricResult:
    name: str
    stored: Any
    new: Any
    delta: float | int | None
    status: str  # same, within tolerance, not compared (wall time), differs, missing, added
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("same", "within tolerance", "not compared (wall time)")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class Reproduction:
    """What a re-run gave, against the stored version."""

    entry: dict[str, Any]
    commit: str
    command: list[str]
    cwd: str
    exit_code: int | None = None
    summary: str | None = None
    output_tail: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    environment: list[Difference] = field(default_factory=list)
    files: list[FileResult] = field(default_factory=list)
    metrics: list[MetricResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kept: str | None = None

    @property
    def reproduced(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            **version_summary(self.entry),
            "code_commit": self.commit,
            "command": self.command,
            "cwd": self.cwd,
            "pytest": {"exit_code": self.exit_code, "summary": self.summary},
            "reproduced": self.reproduced,
            "problems": self.problems,
            "notes": self.notes,
            "environment": [d.to_json() for d in self.environment],
            "files": [f.to_json() for f in self.files],
            "metrics": [m.to_json() for m in self.metrics],
            "output_tail": self.output_tail,
            "kept": self.kept,
        }


# ---------------------------------------------------------------- comparing
def first_difference(stored: bytes, new: bytes) -> str:
    """Where two versions of a file part: ``line 3: '…' → '…'`` (or sizes, if binary)."""
    try:
        a, b = stored.decode("utf-8").splitlines(), new.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return f"binary, {len(stored):,} → {len(new):,} bytes"
    from pytest_artifact_store.scan import mask_secrets

    for number, (x, y) in enumerate(zip(a, b, strict=False), 1):
        if x != y:
            at = next((i for i, (c, d) in enumerate(zip(x, y, strict=False)) if c != d), 0)
            x, y = _around(x, at), _around(y, at)
            return f"line {number}: {mask_secrets(x)!r} → {mask_secrets(y)!r}"
    if len(a) != len(b):
        return f"{len(a)} lines → {len(b)} lines"
    return "line endings differ"


def _around(text: str, at: int, size: int = 40) -> str:
    """The part of a long line where it starts to differ (``…`` marks what is left out)."""
    start = max(0, min(at - 12, len(text) - size))
    part = ("…" if start else "") + text[start : start + size]
    return part + ("…" if start + size < len(text) else "")


def _outcomes(data: bytes) -> dict[str, str] | None:
    try:
        report = json.loads(data)
        return {str(t["nodeid"]): str(t["outcome"]) for t in report["tests"]}
    except (ValueError, KeyError, TypeError):
        return None


def plugin_report(names: Collection[str]) -> str:
    """The name of the plugin's report among a version's files."""
    return REPORTS[0] if REPORTS[0] in names else REPORTS[1]


def compare_reports(name: str, stored: bytes, new: bytes) -> FileResult:
    """The plugin's report by its tests' outcomes (durations and times always differ)."""
    a, b = _outcomes(stored), _outcomes(new)
    if a is None or b is None:
        return FileResult(name, "differs", "cannot be read as a test report")
    if a == b:
        counts: dict[str, int] = {}
        for outcome in a.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        text = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
        return FileResult(name, "same outcomes", text or "no tests")
    changed = [
        f"{node}: {a.get(node, 'not run')} → {b.get(node, 'not run')}"
        for node in sorted(set(a) | set(b))
        if a.get(node) != b.get(node)
    ]
    more = f" (+{len(changed) - 3} more)" if len(changed) > 3 else ""
    return FileResult(name, "outcomes differ", "; ".join(changed[:3]) + more)


def compare_files(
    stored: Mapping[str, bytes | None], new: Mapping[str, bytes], ignore: Sequence[str]
) -> list[FileResult]:
    results = []
    report = plugin_report(stored)
    for name in sorted(set(stored) | set(new)):
        a, b = stored.get(name), new.get(name)
        if a is None:
            result = FileResult(name, "added", "written by the re-run, not in the version")
        elif b is None:
            result = FileResult(name, "missing", "not written by the re-run")
        elif name == report:
            result = compare_reports(name, a, b)
        elif a == b:
            result = FileResult(name, "identical")
        else:
            result = FileResult(name, "differs", first_difference(a, b))
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in ignore):
            result = replace(result, ignored=True)
        results.append(result)
    return results


def compare_metrics(
    stored: Mapping[str, Any], new: Mapping[str, Any], rules: Sequence[Rule]
) -> list[MetricResult]:
    """Every metric: the same, within its rules, or not."""
    rows = metric_rows(stored, new)
    results = []
    for name, row in rows.items():
        a, b = row["a"], row["b"]
        if name in TIMING_METRICS:
            results.append(MetricResult(name, a, b, row["delta"], "not compared (wall time)"))
            continue
        if a is None or b is None:
            status = "added" if a is None else "missing"
            results.append(MetricResult(name, a, b, None, status))
            continue
        if a == b:
            results.append(MetricResult(name, a, b, row["delta"], "same"))
            continue
        verdicts = [evaluate_rule(rule, rows) for rule in rules_for(rules, name)]
        broken = [v.message for v in verdicts if not v.holds]
        status = "within tolerance" if verdicts and not broken else "differs"
        results.append(
            MetricResult(name, a, b, row["delta"], status, broken[0] if broken else None)
        )
    numeric = set(rows)
    for name in sorted(set(stored) | set(new)):  # strings, lists, None: equal or not
        if name in numeric or any(key.startswith(f"{name}.") for key in numeric):
            continue
        a, b = stored.get(name), new.get(name)
        results.append(MetricResult(name, a, b, None, "same" if a == b else "differs"))
    return results


def unknown_rules(rules: Sequence[Rule], metrics: Sequence[MetricResult]) -> list[str]:
    names = {m.name for m in metrics}
    return [
        f"rule {rule} names no metric of this version"
        for rule in rules
        if rule.metric != "*" and rule.metric not in names
    ]


# ---------------------------------------------------------------- the worktree and the run
@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a CI cancel) interrupts like Ctrl-C, so the worktree is removed."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done, then interrupt (git runs in a
    process group of its own: the terminal's Ctrl-C does not reach it)."""
    caught: list[int] = []

    def defer(signum: int, frame: object) -> None:
        caught.append(signum)

    previous: dict[signal.Signals, Any] = {}
    with contextlib.suppress(ValueError):  # not the main thread: nothing to defer
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, defer)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    if caught:
        raise KeyboardInterrupt


@contextlib.contextmanager
def worktree(checkout: Path, commit: str, *, keep: bool = False) -> Iterator[Path]:
    """A temporary directory holding ``tree/``, a linked worktree of ``checkout`` at
    ``commit`` (detached; the user's hooks do not run); removed afterwards unless ``keep``."""
    from pytest_artifact_store.git.process import run_git

    top = Path(tempfile.mkdtemp(prefix="artifact-store-reproduce-"))
    tree = top / "tree"
    found = run_git(["rev-parse", "--git-common-dir"], cwd=checkout, check=False).stdout.strip()
    common = (checkout / found) if found else None
    try:
        with _sigterm_interrupts():
            add = ["-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--quiet"]
            run_git([*add, str(tree), commit], cwd=checkout)
            yield top
    finally:
        if not keep:
            with _signals_deferred():  # a second Ctrl-C must not leave it half removed
                run_git(["worktree", "remove", "--force", str(tree)], cwd=checkout, check=False)
                shutil.rmtree(top, ignore_errors=True)
                # its own entry only, if git left it ('git worktree prune' would also drop
                # the entries of your worktrees whose directories are away: unmounted)
                for admin in _admin_entries(common, tree) if common else []:
                    shutil.rmtree(admin, ignore_errors=True)


def _admin_entries(common: Path, tree: Path) -> list[Path]:
    """The directories of ``$GIT_COMMON_DIR/worktrees`` that register ``tree``."""
    out = []
    for gitdir in (common / "worktrees").glob("*/gitdir"):
        try:
            target = Path(gitdir.read_text("utf-8").strip())
        except (OSError, UnicodeDecodeError):
            continue
        if os.path.realpath(gitdir.parent / target) == os.path.realpath(tree / ".git"):
            out.append(gitdir.parent)
    return out


def place_inputs(recorded: Mapping[str, Any], tree: Path, checkout: Path) -> list[str]:
    """Inputs the commit lacks (data kept out of git) are copied from the checkout; a
    note says so, or that one is nowhere. (Their digests are judged from the re-run's
    capsule.)"""
    notes = []
    for key in recorded.get("sha256") or {}:
        if os.path.isabs(key) or (tree / key).is_file():
            continue
        if ".." in key.split("/") or not _inside(tree / key, tree):
            notes.append(f"input {key}: not copied (its path leads out of the worktree)")
            continue
        if (checkout / key).is_file():
            (tree / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(checkout / key, tree / key)
            notes.append(f"input {key}: not in the commit: copied from your checkout")
        else:
            notes.append(f"input {key}: not in the commit, nor in your checkout")
    return notes


def _inside(path: Path, top: Path) -> bool:
    """Whether ``path`` (symbolic links followed) lies in ``top``."""
    try:
        path.resolve().relative_to(top.resolve())
    except ValueError:
        return False
    return True


def child_environment(
    recorded_env: Mapping[str, Any], export: Path, pytest_section: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """This environment without the plugin's settings, with the recorded values of the
    variables the capsule lists, pytest's own as recorded (``PYTEST_ADDOPTS``,
    ``PYTEST_PLUGINS``...: unset when the session had none; yours when the capsule
    predates them), and the export directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_STORE_")}
    for name, value in recorded_env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    recorded_pytest_env = (pytest_section or {}).get("env")
    for name, value in (recorded_pytest_env or {}).items():
        if name in PYTEST_ENV and isinstance(value, str):
            env[name] = value
        elif name in PYTEST_ENV:
            env.pop(name, None)
    env[EXPORT_ENV] = os.fspath(export)
    return env


def rebase_args(
    args: Sequence[str], checkout: Path, tree: Path, scratch: Path
) -> tuple[list[str], list[str]]:
    """The recorded arguments for the re-run, and notes on what changed: a path into
    your checkout (``/home/me/proj/tests``, ``--rootdir=/home/me/proj``, ``-o
    cache_dir=/home/me/proj/.cache``) points into the worktree instead (else the re-run
    would test your checkout's code, and write there); what pytest writes wherever it was
    told (``--basetemp``, which it empties first; ``--junitxml``, ``--report-log``...) goes
    into ``scratch``, the re-run's temporary directory."""
    roots = _roots(checkout)
    out: list[str] = []
    notes: list[str] = []
    outside: list[str] = []
    pending = ""  # an option of WRITTEN whose value is the next argument
    for arg in args:
        option, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        written = pending or (option if eq and option in WRITTEN | {"--debug"} else "")
        if written:
            new = f"{option}{eq}{_scratch(written, value, scratch)}"
            notes.append(f"{written} {value}: the re-run's temporary directory instead")
            pending = ""
        elif arg in WRITTEN:
            new, pending = arg, arg
        else:
            key, is_setting, path = (
                ("", "", value) if os.path.isabs(value) else value.partition("=")
            )
            moved = _moved(path, roots, tree) if os.path.isabs(path) else None
            if moved is not None:
                new = f"{option}{eq}{key}{is_setting}{moved}"
                notes.append(f"argument {arg}: in your checkout; the worktree's instead")
            else:
                new = arg
                if os.path.isabs(path) and not option.startswith("--artifact-"):
                    outside.append(arg)
        out.append(new)
    if outside:
        notes.append(f"arguments outside the commit, used as recorded: {' '.join(outside)}")
    return out, notes


def _scratch(option: str, value: str, scratch: Path) -> Path:
    if option == "--basetemp":
        return scratch / "basetemp"
    return scratch / "outputs" / (Path(value).name or "output")


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    # no terminal to read: a recorded --pdb (or a test's input()) ends instead of
    # waiting unseen for keys, its output being captured
    proc = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def _read_export(directory: Path) -> tuple[dict[str, bytes], dict[str, Any] | None]:
    files: dict[str, bytes] = {}
    metadata = None
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix()
        if name == DEFAULT_METADATA_FILENAME:
            metadata = json.loads(path.read_text(encoding="utf-8"))
        else:
            files[name] = path.read_bytes()
    return files, metadata


def _under(path: str, roots: Sequence[str]) -> str | None:
    """The root of ``roots`` that ``path`` lies in (or is), if any."""
    return next((r for r in roots if path == r or path.startswith(r.rstrip(os.sep) + os.sep)), None)


def _moved(path: str, roots: Sequence[str], tree: Path) -> str | None:
    """``path``, in the checkout, as the worktree's: when the worktree has it (the
    commit's), or nobody has (a path to write). None: outside the checkout, or content
    of it the commit lacks (untracked: a virtualenv, ignored data), used as it is."""
    root = _under(path, roots)
    if root is None:
        return None
    moved = f"{tree}{path[len(root) :]}"
    return moved if os.path.lexists(moved) or not os.path.lexists(path) else None


def _roots(checkout: Path) -> list[str]:
    """The checkout's top as given and with links resolved, the longer first."""
    return sorted({os.fspath(checkout), os.fspath(checkout.resolve())}, key=len, reverse=True)


_FINDER_MAPPING = re.compile(r"^MAPPING\b[^=\n]*=\s*(\{.*\})\s*$", re.MULTILINE)


def editable_roots(checkout: Path) -> dict[str, list[str]]:
    """{distribution: directories its code is imported from} of each distribution
    installed in editable mode from ``checkout`` (``pip install -e .``): the directories a
    ``.pth`` file of it lists, the parents of what setuptools' finder maps. This package
    is left out: the re-run is judged by this tool, not by the commit's copy of it."""
    import ast
    from urllib.parse import unquote, urlparse

    roots = _roots(checkout)
    found: dict[str, list[str]] = {}
    for dist in importlib.metadata.distributions():
        try:
            direct = json.loads(dist.read_text("direct_url.json") or "{}")
            url = urlparse(str(direct.get("url", "")))
            editable = bool((direct.get("dir_info") or {}).get("editable"))
        except (ValueError, AttributeError, OSError):
            continue
        name = str(dist.metadata["Name"] or "")
        if not editable or url.scheme != "file" or name == "pytest-artifact-store":
            continue
        if _under(unquote(url.path), roots) is None:
            continue
        directories: list[str] = []
        for file in dist.files or []:
            finder = file.name.startswith("__editable__") and file.name.endswith("finder.py")
            if not (finder or file.name.endswith(".pth")):
                continue
            try:
                text = Path(str(dist.locate_file(file))).read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if file.name.endswith(".pth"):
                lines = [line.strip() for line in text.splitlines()]
                paths = [line for line in lines if line and not line.startswith(("#", "import"))]
            else:
                match = _FINDER_MAPPING.search(text)
                try:
                    mapping = ast.literal_eval(match.group(1)) if match else {}
                except (ValueError, SyntaxError):
                    mapping = {}
                paths = [os.path.dirname(str(p)) for p in mapping.values()]
            directories += [p for p in paths if _under(p, roots) and p not in directories]
        if directories:
            found[name] = directories
    return found


def rebase_pythonpath(env: dict[str, str], checkout: Path, tree: Path) -> list[str]:
    """Code of the checkout is imported from the worktree: ``PYTHONPATH`` entries in the
    checkout name the worktree's, and the directories of distributions installed in
    editable mode from the checkout go first on it (before the install's own finder);
    else the re-run would test your checkout's code. The notes say what moved."""
    roots = _roots(checkout)
    notes: list[str] = []
    entries: list[str] = []
    for name, directories in sorted(editable_roots(checkout).items()):
        for directory in directories:
            moved = _moved(directory, roots, tree)
            if moved is not None and os.path.isdir(moved) and moved not in entries:
                entries.append(moved)
                notes.append(
                    f"{name} is installed in editable mode from your checkout: imported "
                    f"from the worktree's {os.path.relpath(moved, tree)} instead"
                )
    for entry in filter(None, env.get("PYTHONPATH", "").split(os.pathsep)):
        moved = _moved(entry, roots, tree)
        if moved is not None:
            notes.append(f"PYTHONPATH entry {entry}: in your checkout; the worktree's instead")
            entry = moved
        if entry not in entries:
            entries.append(entry)
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    return notes


def randomly_seed(store: ArtifactStore, entry: Mapping[str, Any], given: str) -> int | None:
    """pytest-randomly's seed of the version's session, when the re-run needs telling:
    the plugin reseeds ``random`` (and numpy) before every test with a seed of its own
    each session unless given one (``given``: the recorded arguments and addopts)."""
    if "--randomly-seed" in given or "no:randomly" in given:
        return None
    try:
        importlib.metadata.version("pytest-randomly")
    except importlib.metadata.PackageNotFoundError:  # the re-run has none to seed
        return None
    report = store.read_version_file(entry, plugin_report(task_files(store, entry)))
    try:
        seed = json.loads(report or b"{}").get("random_seed")
    except (ValueError, AttributeError):
        return None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def last_failed(tree: Path, code: Mapping[str, Any], node_ids: Sequence[str]) -> str:
    """``--lf`` ran the tests that had failed before, which pytest's cache told it: the
    worktree has no cache, so the version's tests are its last failures (in the rootdir's
    ``.pytest_cache``, the default ``cache_dir``)."""
    rootdir = str(code.get("rootdir") or ".")
    cache = tree / rootdir / ".pytest_cache" / "v" / "cache"
    if os.path.isabs(rootdir) or ".." in rootdir.split("/") or not _inside(cache, tree):
        return "--lf: the rootdir is outside the checkout; the re-run has no last failures"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "lastfailed").write_text(json.dumps(dict.fromkeys(node_ids, True)), "utf-8")
    return f"--lf: the re-run's last failures are the version's tests ({len(node_ids)})"


def _run_directory(code: Mapping[str, Any]) -> str:
    """Where pytest ran, relative to the checkout's top (its rootdir if that was outside)."""
    for key in ("invocation_dir", "rootdir"):
        value = code.get(key)
        if isinstance(value, str) and not os.path.isabs(value) and ".." not in value.split("/"):
            return value
    return "."


# ---------------------------------------------------------------- the whole
def reproduce(
    store: ArtifactStore,
    ref: str,
    *,
    code_dir: Path | None = None,
    rules: Sequence[Rule] = (),
    ignore: Sequence[str] = (),
    keep: bool = False,
    python: str | None = None,
) -> Reproduction:
    """Re-run the session of the version ``ref`` names and compare its outputs."""
    entry = resolve(store, ref)
    capsule = capsule_of(entry)
    code = capsule["code"]
    commit = code.get("commit")
    if not commit:
        raise ArtifactStoreError(
            "the version's code was not in a git repository "
            f"({code.get('problem') or 'no commit'}): there is no commit to check out"
        )
    if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", str(commit)):  # never a ref, an option
        raise ArtifactStoreError(f"the version's code commit {str(commit)[:80]!r} is no commit id")
    state = code_state(code_dir or Path.cwd())
    if state.root is None:
        raise ArtifactStoreError(
            f"{state.problem}: pass --code DIR, a checkout of the code under test"
        )
    checkout = state.root
    from pytest_artifact_store.git.process import run_git

    if run_git(["cat-file", "-e", f"{commit}^{{commit}}"], cwd=checkout, check=False).returncode:
        raise ArtifactStoreError(
            f"commit {commit[:10]} (the version's code) is not in {checkout}: fetch it, or "
            "pass --code DIR, a checkout that has it"
        )
    where = _run_directory(code)
    recorded = capsule.get("pytest") or {}
    args = [str(a) for a in recorded.get("args") or []]
    command = [python or sys.executable, "-m", "pytest", *args]
    result = Reproduction(dict(entry), str(commit), command, where)
    if code.get("dirty"):
        result.problems.append(
            f"the version was recorded from a dirty work tree (diff sha256 "
            f"{short(code.get('diff_sha256'))}: {code.get('changed_files', '?')} changed, "
            f"{code.get('untracked_files', '?')} untracked files): uncommitted changes are not "
            "recorded, so the re-run uses the commit alone and cannot reproduce it exactly"
        )
    with worktree(checkout, str(commit), keep=keep) as top:
        tree, export = top / "tree", top / "export"
        if keep:
            result.kept = os.fspath(top)
        if isinstance(capsule.get("inputs"), Mapping):
            result.notes += place_inputs(capsule["inputs"], tree, checkout)
        args, notes = rebase_args(args, checkout, tree, top)
        result.notes += notes
        result.command = command = [*command[:3], *args]
        env = child_environment(capsule.get("env") or {}, export, recorded)
        result.notes += rebase_pythonpath(env, checkout, tree)
        found = recorded.get("env")
        recorded_env: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        addopts = env.get(ADDOPTS_ENV)
        if addopts and ADDOPTS_ENV in recorded_env:  # the recorded one: its paths too
            with contextlib.suppress(ValueError):  # unbalanced quotes: pytest says so
                split, notes = rebase_args(shlex.split(addopts), checkout, tree, top)
                if notes:
                    env[ADDOPTS_ENV] = shlex.join(split)
                    result.notes += [f"PYTEST_ADDOPTS: {note}" for note in notes]
        given = [*args, *str(recorded_env.get(ADDOPTS_ENV) or "").split()]
        if "--lf" in given or "--last-failed" in given:
            result.notes.append(last_failed(tree, code, recorded.get("node_ids") or []))
        seed = randomly_seed(store, entry, " ".join(given))
        if seed is not None:
            result.command = command = [*command, f"--randomly-seed={seed}"]
            result.notes.append(f"--randomly-seed={seed}: pytest-randomly's seed of the session")
        if _inside(tree / where, tree):  # an ignored or empty directory is made
            (tree / where).mkdir(parents=True, exist_ok=True)
        result.exit_code, output = _run(command, tree / where, env)
        lines = output.rstrip().splitlines()
        found = [m.group(0) for line in lines if (m := _SUMMARY.search(line))]
        result.summary = found[-1] if found else None
        new_files, new_meta = _read_export(export) if export.is_dir() else ({}, None)
        if new_meta is None:
            result.output_tail = lines[-15:]
            result.problems.append(
                f"the re-run exported nothing: pytest exited {result.exit_code} "
                f"({result.summary or 'see its output'})"
            )
            return result
    judge(store, result, new_files, new_meta, rules, ignore)
    return result


def judge(
    store: ArtifactStore,
    result: Reproduction,
    new_files: Mapping[str, bytes],
    new_meta: Mapping[str, Any],
    rules: Sequence[Rule],
    ignore: Sequence[str],
) -> None:
    """Compare the re-run's export with the stored version; fill in ``result``."""
    entry = result.entry
    capsule = capsule_of(entry)
    stored = {name: store.read_version_file(entry, name) for name in task_files(store, entry)}
    result.files = compare_files(stored, new_files, ignore)
    result.metrics = compare_metrics(
        entry.get("test_metrics") or {}, new_meta.get("test_metrics") or {}, rules
    )
    found = new_meta.get("capsule")
    rerun: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    result.environment = compare_python(capsule.get("python") or {}, rerun.get("python") or {})
    result.environment += compare_packages(
        capsule.get("packages") or {}, rerun.get("packages") or {}
    )
    recorded_inputs, rerun_inputs = capsule.get("inputs"), rerun.get("inputs")
    if isinstance(recorded_inputs, Mapping) and isinstance(rerun_inputs, Mapping):
        result.environment += compare_inputs(recorded_inputs, rerun_inputs.get("sha256") or {})
    stored_report = stored.get(plugin_report(stored))
    was = _exit_status(stored_report) if stored_report else 0
    if result.exit_code != was:
        result.problems.append(f"pytest exited {result.exit_code} (the version's session: {was})")
    differing = [f for f in result.files if not f.ok]
    if differing:
        result.problems.append(f"{len(differing)} of {len(result.files)} files differ")
    off = [m for m in result.metrics if not m.ok]
    if off:
        result.problems.append(f"{len(off)} of {len(result.metrics)} metrics differ")
    result.problems += unknown_rules(rules, result.metrics)


def _exit_status(report: bytes) -> int:
    try:
        return int(json.loads(report).get("exitstatus", 0))
    except (ValueError, TypeError, AttributeError):
        return 0
