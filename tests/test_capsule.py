"""The reproducibility capsule (issue 19): what a version records of the session that made
it, ``artifact-store verify`` against a checkout and an environment, and ``artifact-store
reproduce`` re-running the session in a temporary worktree. Real git repositories, real
pytest sessions in subprocesses, the bundled example backtest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import GitRunner

from pytest_artifact_store import cli
from pytest_artifact_store.capsule import capture, reproduce, verify
from pytest_artifact_store.compare.diff import parse_rule
from pytest_artifact_store.metadata import validate_metadata
from pytest_artifact_store.pytest_plugin.recorder import ArtifactRecorder

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rsi_backtest"
BRANCH = "ai/generated/wf_rsi_strategy/task_rsi_7_30_70"
META = "Backtest/codes/task_rsi_7_30_70/metadata.json"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
SEED_TEST = "def test_seeded(artifact_store):\n    artifact_store.record_seed('numpy', 42)\n"


@pytest.fixture
def code(tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example backtest in a git checkout of its own (the code under test)."""
    path = tmp_path / "code"
    path.mkdir()
    for source in EXAMPLE.iterdir():
        if source.is_file() and source.suffix in (".py", ".csv", ".ini"):
            shutil.copy(source, path / source.name)
    (path / "test_seed.py").write_text(SEED_TEST)
    monkeypatch.delenv("RSI_OVERSOLD", raising=False)
    return checkout(path, git, monkeypatch)


def checkout(path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``path`` committed as a git checkout of its own; its sessions run apart from ours."""
    (path / ".gitignore").write_text("__pycache__/\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "the code under test")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # a session of its own
    return path


def record(code: Path, store: Path, correlation_id: str = "c1") -> dict[str, Any]:
    """``pytest --artifact-store`` in ``code``, committing into ``store``: the metadata."""
    given = [f"--artifact-repo={store}", f"--artifact-correlation-id={correlation_id}"]
    proc = subprocess.run(
        [*PYTEST, "--artifact-store", "--artifact-no-push", *given],
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tag = f"corr_{correlation_id}"
    assert f"({tag})" in proc.stdout
    shown = subprocess.run(
        ["git", "show", f"{tag}:{META}"],
        cwd=store,
        capture_output=True,
        text=True,
        check=True,
    )
    meta: dict[str, Any] = json.loads(shown.stdout)
    return meta


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def worktrees(checkout: Path, git: GitRunner) -> list[str]:
    listing = git(checkout, "worktree", "list", "--porcelain").splitlines()
    return [line.split(" ", 1)[1] for line in listing if line.startswith("worktree ")]


def scale_prices(path: Path, factor: float) -> None:
    lines = path.read_text().splitlines()
    rows = [lines[0]]
    for line in lines[1:]:
        date, *prices, volume = line.split(",")
        rows.append(",".join([date, *(f"{float(p) * factor:.2f}" for p in prices), volume]))
    path.write_text("\n".join(rows) + "\n")


# ---------------------------------------------------------------- what is recorded
def test_the_capsule_records_the_session_and_the_example_reproduces_exactly(
    code: Path, repo: Path, git: GitRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ["UNLISTED_VALUE"] = "never-recorded-3f9a"
    try:
        meta = record(code, repo)
    finally:
        del os.environ["UNLISTED_VALUE"]
    capsule = meta["capsule"]
    assert validate_metadata(meta) == []
    assert capsule["code"] == {
        "commit": git(code, "rev-parse", "HEAD"),
        "dirty": False,
        "diff_sha256": None,
        "changed_files": 0,
        "untracked_files": 0,
        "rootdir": ".",
        "invocation_dir": ".",
    }
    assert capsule["pytest"]["args"][:4] == ["-q", "-p", "no:cacheprovider", "--artifact-store"]
    assert len(capsule["pytest"]["node_ids"]) == 13
    assert "test_seed.py::test_seeded" in capsule["pytest"]["node_ids"]
    assert capsule["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert capsule["packages"]["pytest"] == pytest.__version__
    assert list(capsule["packages"]) == sorted(capsule["packages"])
    digest = hashlib.sha256((code / "prices.csv").read_bytes()).hexdigest()
    assert capsule["inputs"] == {
        "base": ".",
        "patterns": ["prices.csv"],
        "sha256": {"prices.csv": digest},
    }
    assert capsule["seeds"] == {"numpy": 42}
    assert capsule["env"] == {"RSI_OVERSOLD": None}
    assert "never-recorded-3f9a" not in json.dumps(meta)

    status, out = run_cli(capsys, "--repo", str(repo), "show", "c1")
    packages = len(capsule["packages"])
    built = f"{capsule['code']['commit'][:10]} (clean), CPython {sys.version.split()[0]}"
    assert any(line.startswith(f"  built from     {built}") for line in out.splitlines()), out
    assert f", {packages} packages, 1 input\n" in out and '"capsule"' not in out
    status, out = run_cli(capsys, "--repo", str(repo), "verify", "c1", "--code", str(code))
    assert status == 0, out
    assert out.splitlines()[-1] == "verify: this checkout and environment match the capsule"
    status, out = run_cli(capsys, "--repo", str(repo), "reproduce", "c1", "--code", str(code))
    assert status == 0, out
    assert "reproduced: every file and metric as stored" in out
    for name in ("backtest.py", "equity_curve.csv", "events.log", "rsi_strategy.py", "trades.csv"):
        assert any(line.split() == [name, "identical"] for line in out.splitlines()), out
    assert "test_report.json  same outcomes  13 passed" in out
    assert worktrees(code, git) == [str(code)]  # the temporary worktree is gone
    assert git(code, "status", "--porcelain") == ""


# ---------------------------------------------------------------- drift, each kind
def test_a_drifted_input_is_reported_by_verify_and_reproduce(
    code: Path, repo: Path, git: GitRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    # price data kept out of git, as data usually is: reproduce takes it from the checkout
    git(code, "rm", "-q", "--cached", "prices.csv")
    (code / ".gitignore").write_text("__pycache__/\nprices.csv\n")
    git(code, "commit", "-q", "-am", "prices.csv is data, not code")
    before = record(code, repo)["capsule"]["inputs"]["sha256"]["prices.csv"]
    scale_prices(code / "prices.csv", 1.05)
    after = hashlib.sha256((code / "prices.csv").read_bytes()).hexdigest()

    status, out = run_cli(capsys, "--repo", str(repo), "verify", "c1", "--code", str(code))
    assert status == 1
    assert f"  input prices.csv: sha256 {before[:12]} → {after[:12]}" in out.splitlines()
    assert "code:" not in out  # an ignored file leaves the tree clean
    assert out.splitlines()[-1] == "verify: 1 difference(s) that matter"

    status, out = run_cli(capsys, "--repo", str(repo), "reproduce", "c1", "--code", str(code))
    assert status == 1, out
    lines = out.splitlines()
    assert "  note     input prices.csv: not in the commit: copied from your checkout" in lines
    assert f"  input prices.csv: sha256 {before[:12]} → {after[:12]}" in lines
    assert "  pytest exited 1 (the version's session: 0)" in lines
    report = next(line for line in lines if line.startswith("test_report.json"))
    assert "outcomes differ" in report
    assert "test_backtest.py::test_backtest_numbers: passed → failed" in report
    trades = next(line for line in lines if line.startswith("trades.csv"))
    assert "differs" in trades and "line 2: '" in trades
    net_pnl = next(line for line in lines if line.startswith("net_pnl"))
    assert net_pnl.split()[1] == "1900.87" and net_pnl.endswith("differs")
    assert worktrees(code, git) == [str(code)]


def fake_distribution(folder: Path, version: str | None) -> None:
    """fake-pkg <version> on sys.path (a dist-info directory only); None removes it."""
    for old in folder.glob("fake_pkg-*.dist-info"):
        shutil.rmtree(old)
    if version is not None:
        info = folder / f"fake_pkg-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fake-pkg\nVersion: {version}\n"
        )


def test_a_changed_package_version_is_reported(
    code: Path,
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = tmp_path / "site"
    fake_distribution(site, "1.0")
    monkeypatch.setenv("PYTHONPATH", str(site))  # the sessions, the re-run ...
    monkeypatch.syspath_prepend(str(site))  # ... and verify, in this process
    assert record(code, repo)["capsule"]["packages"]["fake-pkg"] == "1.0"
    fake_distribution(site, "2.0")

    status, out = run_cli(capsys, "--repo", str(repo), "verify", "c1", "--code", str(code))
    assert status == 1
    assert [line for line in out.splitlines() if "package " in line] == [
        "  package fake-pkg: 1.0 → 2.0"
    ]
    status, out = run_cli(capsys, "--repo", str(repo), "reproduce", "c1", "--code", str(code))
    assert status == 0, out  # same numbers with 2.0: reproduced, and the drift is shown
    assert "what the re-run ran with, against the capsule:\n  package fake-pkg: 1.0 → 2.0\n" in out

    fake_distribution(site, None)
    status, out = run_cli(
        capsys, "--repo", str(repo), "verify", "c1", "--json", "--code", str(code)
    )
    assert status == 1
    report = json.loads(out)
    assert report["matches"] is False
    assert report["differences"] == [
        {
            "kind": "package",
            "name": "fake-pkg",
            "recorded": "1.0",
            "current": None,
            "matters": True,
            "message": "package fake-pkg: 1.0 → not installed",
        }
    ]


def test_a_dirty_tree_is_recorded_by_digest_and_cannot_be_reproduced(
    code: Path, repo: Path, git: GitRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    with (code / "rsi_strategy.py").open("a") as strategy:
        strategy.write("# tuned by hand, not committed\n")
    (code / "notes.txt").write_text("try 25/75\n")
    meta = record(code, repo)
    recorded = meta["capsule"]["code"]
    assert (recorded["dirty"], recorded["changed_files"], recorded["untracked_files"]) == (
        True,
        1,
        1,
    )
    assert len(recorded["diff_sha256"]) == 64
    assert "tuned by hand" not in json.dumps(meta["capsule"])  # a digest, never the diff

    verify_argv = ["--repo", str(repo), "verify", "c1", "--code", str(code)]
    status, out = run_cli(capsys, *verify_argv)
    assert status == 0, out  # the same uncommitted changes: the same digest

    (code / "notes.txt").write_text("try 20/80\n")
    status, out = run_cli(capsys, *verify_argv)
    assert status == 1
    assert "  code: uncommitted changes differ (diff sha256 " in out

    status, out = run_cli(capsys, "--repo", str(repo), "reproduce", "c1", "--code", str(code))
    assert status == 1
    assert (
        f"  the version was recorded from a dirty work tree (diff sha256 "
        f"{recorded['diff_sha256'][:12]}: 1 changed, 1 untracked files): uncommitted changes "
        "are not recorded, so the re-run uses the commit alone and cannot reproduce it exactly"
    ) in out.splitlines()
    strategy_line = next(line for line in out.splitlines() if line.startswith("rsi_strategy.py"))
    assert (
        "differs" in strategy_line and "lines" in strategy_line
    )  # the committed file lacks a line

    git(code, "checkout", "-q", "rsi_strategy.py")
    (code / "notes.txt").unlink()
    status, out = run_cli(capsys, *verify_argv)
    assert status == 1
    assert (
        f"  code: the version was built from uncommitted changes (diff sha256 "
        f"{recorded['diff_sha256'][:12]}); the work tree is clean now"
    ) in out.splitlines()


NOISY = textwrap.dedent(
    """
    import random

    def test_noise(artifact_store, tmp_path):
        value = 100 + random.random()
        (tmp_path / "noise.csv").write_text(f"i,value\\n1,{value}\\n")
        artifact_store.add(tmp_path / "noise.csv")
        artifact_store.record_metric("noise", value)
        artifact_store.record_metric("constant", 1.5)
    """
)


@pytest.fixture
def noisy(tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose test writes random numbers; its versions go into its own repository."""
    path = tmp_path / "noisy"
    path.mkdir()
    (path / "pytest.ini").write_text(
        "[pytest]\nartifact_store_workflow_id = wf_noise\nartifact_store_task_id = t_noise\n"
    )
    (path / "test_noise.py").write_text(NOISY)
    return checkout(path, git, monkeypatch)


def record_noisy(noisy: Path) -> None:
    subprocess.run(
        [*PYTEST, "--artifact-store", "--artifact-correlation-id=n1", "--artifact-no-push"],
        cwd=noisy,
        check=True,
        capture_output=True,
    )


def test_a_nondeterministic_test_is_reported_and_tolerances_apply(
    noisy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_noisy(noisy)
    argv = ["--repo", str(noisy), "reproduce", "n1", "--code", str(noisy)]
    status, out = run_cli(capsys, *argv)
    assert status == 1
    lines = out.splitlines()
    noise_file = next(line for line in lines if line.startswith("noise.csv"))
    assert noise_file.split()[1:4] == ["differs", "line", "2:"]
    noise = next(line for line in lines if line.startswith("noise "))
    assert noise.endswith("differs")
    assert next(line for line in lines if line.startswith("constant")).endswith("same")
    assert lines[-2:] == ["  1 of 2 files differ", "  1 of 3 metrics differ"]
    timing = next(line for line in lines if line.startswith("duration_seconds"))
    assert timing.endswith("not compared (wall time)")  # the plugin's, never the same

    status, out = run_cli(capsys, *argv, "--tolerance", "noise:1%")
    assert status == 1
    assert next(line for line in out.splitlines() if line.startswith("noise ")).endswith(
        "within tolerance"
    )
    assert out.splitlines()[-1] == "  1 of 2 files differ"

    status, out = run_cli(capsys, *argv, "--tolerance", "*:1%", "--ignore", "noise.csv", "--json")
    assert status == 0, out
    report = json.loads(out)
    assert report["reproduced"] is True and report["problems"] == []
    files = {f["name"]: (f["status"], f["ignored"]) for f in report["files"]}
    assert files == {"noise.csv": ("differs", True), "test_report.json": ("same outcomes", False)}
    metrics = {m["name"]: m["status"] for m in report["metrics"]}
    assert metrics == {
        "constant": "same",
        "duration_seconds": "not compared (wall time)",
        "noise": "within tolerance",
    }

    status, out = run_cli(capsys, *argv, "--fail-on", "noise:-0.000001", "--ignore", "*.csv")
    assert status in (0, 1)  # one way only: holds when the re-run's value rose
    verdict = next(line for line in out.splitlines() if line.startswith("noise "))
    assert verdict.endswith("within tolerance") == (status == 0)


def test_reproduce_needs_the_commit_and_a_capsule(
    noisy: Path, repo: Path, git: GitRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    (noisy / "out.txt").write_text("made by hand\n")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=noisy, auto_push=False))
    store.commit_artifacts("wf", "t", [noisy / "out.txt"], correlation_id="lib")
    store.close()
    status, out = run_cli(capsys, "--repo", str(noisy), "verify", "lib")
    assert status == 1
    assert "version corr_lib has no capsule" in out
    assert "1 difference" not in out

    record_noisy(noisy)
    status, out = run_cli(capsys, "--repo", str(noisy), "reproduce", "n1", "--code", str(repo))
    assert status == 1
    commit = git(noisy, "rev-parse", "main")
    assert f"commit {commit[:10]} (the version's code) is not in {repo}: fetch it" in out


def test_an_interrupted_reproduce_removes_its_worktree(
    noisy: Path,
    git: GitRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_noisy(noisy)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    seen: list[Path] = []

    def interrupted(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
        seen.append(cwd)
        assert (cwd / "test_noise.py").is_file()
        assert worktrees(noisy, git) == [str(noisy), str(cwd)]
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce, "_run", interrupted)
    status, out = run_cli(capsys, "--repo", str(noisy), "reproduce", "n1", "--code", str(noisy))
    assert (status, out) == (130, "artifact-store: interrupted\n")
    assert seen and not seen[0].exists()
    assert worktrees(noisy, git) == [str(noisy)]
    assert list(scratch.iterdir()) == []
    assert git(noisy, "status", "--porcelain") == ""


# ---------------------------------------------------------------- the parts
def test_export_writes_what_would_be_committed_and_commits_nothing(
    noisy: Path, git: GitRunner, tmp_path: Path
) -> None:
    pytest.importorskip("xdist")
    (noisy / "test_seed.py").write_text(SEED_TEST)  # recorded in another xdist worker
    out = tmp_path / "out"
    proc = subprocess.run(
        [*PYTEST, "-n", "2", "--artifact-store", f"--artifact-export={out}"],
        cwd=noisy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        f"exported 2 files and metadata.json to {out} (an export: nothing committed)" in proc.stdout
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "metadata.json",
        "noise.csv",
        "test_report.json",
    ]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["test_status"] == "passed" and meta["capsule"]["code"]["commit"]
    assert meta["capsule"]["seeds"] == {"numpy": 42}
    assert meta["capsule"]["pytest"]["node_ids"] == [
        "test_noise.py::test_noise",
        "test_seed.py::test_seeded",
    ]
    assert git(noisy, "for-each-ref", "refs/heads/ai", "refs/tags") == ""

    again = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", f"--artifact-export={out}"],
        cwd=noisy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 4
    assert (
        f"invalid --artifact-export '{out}' from the command line: give an empty or a new directory"
        in again.stderr
    )


def test_untracked_files_written_by_the_session_are_outputs_not_code(
    repo: Path, git: GitRunner
) -> None:
    (repo / "before.txt").write_text("left by hand\n")
    start = os.stat(repo / "before.txt").st_mtime_ns + 1  # the session starts
    (repo / "after.csv").write_text("written by a test\n")
    os.utime(repo / "after.csv", ns=(start + 10**9, start + 10**9))
    state = capture.code_state(repo, written_before_ns=start)
    assert (state.dirty, state.changed_files, state.untracked_files) == (True, 0, 1)
    (repo / "after.csv").unlink()
    assert capture.code_state(repo).diff_sha256 == state.diff_sha256
    (repo / "before.txt").unlink()
    assert capture.code_state(repo) == capture.CodeState(repo, git(repo, "rev-parse", "HEAD"))


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("sharpe:1%", ["sharpe:+1%", "sharpe:-1%"]),
        ("net_pnl:0.5", ["net_pnl:+0.5", "net_pnl:-0.5"]),
        ("max_drawdown_pct:+10%", ["max_drawdown_pct:+10%"]),
        ("*:0.01%", ["*:+0.01%", "*:-0.01%"]),
    ],
)
def test_tolerances_are_fail_on_rules_both_ways(text: str, rules: list[str]) -> None:
    assert [str(rule) for rule in reproduce.parse_tolerance(text)] == rules


def test_a_metric_own_rules_beat_the_wildcard(capsys: pytest.CaptureFixture[str]) -> None:
    rules = [*reproduce.parse_tolerance("*:50%"), parse_rule("sharpe:-1%")]
    results = reproduce.compare_metrics(
        {"sharpe": 1.0, "pnl": 100, "name": "rsi"},
        {"sharpe": 0.9, "pnl": 140, "name": "rsi"},
        rules,
    )
    assert [(m.name, m.status) for m in results] == [
        ("pnl", "within tolerance"),
        ("sharpe", "differs"),
        ("name", "same"),
    ]
    assert results[1].message == "sharpe: fell 10.00% from 1 to 0.9 (rule sharpe:-1%)"
    assert cli.main(["reproduce", "x", "--tolerance", "sharpe"]) == 2
    assert "invalid tolerance 'sharpe'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("now", "matters"),
    [
        ({"version": "3.11.9"}, [False]),
        ({"version": "3.12.1"}, [True]),
        ({"implementation": "PyPy"}, [True]),
        ({"platform": "darwin", "machine": "arm64"}, [False]),
    ],
)
def test_python_differences_that_matter(now: dict[str, str], matters: list[bool]) -> None:
    recorded = {
        "version": "3.11.7",
        "implementation": "CPython",
        "platform": "linux",
        "machine": "x86_64",
    }
    found = verify.compare_python(recorded, {**recorded, **now})
    assert [d.matters for d in found] == matters


def test_seeds_are_checked_and_merged_from_xdist_workers() -> None:
    recorder = ArtifactRecorder()
    recorder.record_seed("numpy", 42)
    recorder.record_seed("numpy", 42)
    with pytest.raises(ValueError, match="seed 'numpy' was recorded as 42; give 7 another name"):
        recorder.record_seed("numpy", 7)
    with pytest.raises(TypeError, match="must be an int or a str, got float"):
        recorder.record_seed("x", 1.5)  # type: ignore[arg-type]
    worker = ArtifactRecorder()
    worker.record_seed("random", "abc")
    worker.record_seed("numpy", 43)
    recorder.merge(worker.to_wire(), "gw1")
    assert recorder.seeds == {"numpy": 42, "random": "abc"}
    assert recorder.conflicts == [
        "seed 'numpy' was recorded as 42 and as 43 (in worker gw1); name each worker's seed apart"
    ]


@pytest.mark.parametrize(
    ("stored", "new", "said"),
    [
        (b"a,b\n1,2\n", b"a,b\n1,3\n", "line 2: '1,2' → '1,3'"),
        (
            b"2023-10-11 SELL qty=97 price=109.93 pnl=369.51 rsi=60.5\n",
            b"2023-10-11 SELL qty=97 price=109.93 pnl=369.51 rsi=48.3\n",
            "line 1: '… qty=97 price=109.93 pnl=369.51 rsi=60.5' → "
            "'… qty=97 price=109.93 pnl=369.51 rsi=48.3'",
        ),
        (b"a\nb\n", b"a\nb\nc\n", "2 lines → 3 lines"),
        (b"a\n", b"a\r\n", "line endings differ"),
        (b"\xff\x00", b"\xff\x01\x02", "binary, 2 → 3 bytes"),
    ],
)
def test_where_a_file_starts_to_differ(stored: bytes, new: bytes, said: str) -> None:
    assert reproduce.first_difference(stored, new) == said


@pytest.mark.usefixtures("pytester_git")
def test_capsule_env_takes_variable_names(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nartifact_store_capsule_env =\n    SEED\n    BAD-NAME\n")
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest(f"--artifact-export={pytester.path / 'out'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    why = "'BAD-NAME' is not an environment variable name"
    result.stderr.fnmatch_lines([f"*invalid artifact_store_capsule_env * from *.ini: {why}"])


def test_the_plugins_report_is_compared_by_outcomes_beside_the_tests_own() -> None:
    def report(outcome: str, duration: float) -> bytes:
        tests = [{"nodeid": "t.py::a", "outcome": outcome, "duration": duration}]
        return json.dumps({"tests": tests, "duration": duration}).encode()

    stored = {"pytest_report.json": report("passed", 0.1), "test_report.json": b'{"ok": 1}'}
    new = {"pytest_report.json": report("passed", 0.2), "test_report.json": b'{"ok": 2}'}
    results = {f.name: (f.status, f.detail) for f in reproduce.compare_files(stored, new, [])}
    assert results == {
        "pytest_report.json": ("same outcomes", "1 passed"),
        "test_report.json": ("differs", "line 1: '{\"ok\": 1}' → '{\"ok\": 2}'"),
    }
    new["pytest_report.json"] = report("failed", 0.2)
    (result,) = [f for f in reproduce.compare_files(stored, new, []) if f.name.startswith("py")]
    assert (result.status, result.detail) == ("outcomes differ", "t.py::a: passed → failed")
