"""The capsule attacked (issue 19): recorded command lines that reach outside the
worktree, the command line pytest takes from the environment, secrets beside their
option's name, a re-run that would wait for a terminal, Ctrl-C pressed twice, file names
that are not UTF-8, bytecode caches, an ignored invocation directory, input paths that
lead out of the worktree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import GitRunner
from test_capsule import PYTEST, checkout, run_cli, worktrees

from pytest_artifact_store.capsule import capture, reproduce

INI = "[pytest]\nartifact_store_workflow_id = wf_a\nartifact_store_task_id = t_a\n"
ANSWER = (
    "ANSWER = {}\n\n"
    "def test_answer(artifact_store):\n"
    "    artifact_store.record_metric('answer', ANSWER)\n"
)


@pytest.fixture
def project(tmp_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One test recording one metric; its versions go into its own repository."""
    path = tmp_path / "project"
    path.mkdir()
    (path / "pytest.ini").write_text(INI)
    (path / "test_answer.py").write_text(ANSWER.format(1))
    return checkout(path, git, monkeypatch)


def record(path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYTEST, "--artifact-store", "--artifact-no-push", *args],
        cwd=cwd or path,
        capture_output=True,
        text=True,
        check=False,
    )


def capsule_of(path: Path, git: GitRunner, tag: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(git(path, "show", f"{tag}:Backtest/codes/t_a/metadata.json"))
    return meta["capsule"]


def test_paths_into_the_checkout_are_run_in_the_worktree(
    project: Path, git: GitRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    basetemp = tmp_path / "basetemp"
    given = [f"--rootdir={project}", "--basetemp", str(basetemp), str(project)]
    proc = record(project, "--artifact-correlation-id=a1", *given)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the checkout moves on; the version's commit still answers 1
    (project / "test_answer.py").write_text(ANSWER.format(2))
    git(project, "commit", "-q", "-am", "the answer changes")
    basetemp.mkdir(exist_ok=True)
    (basetemp / "keep.txt").write_text("the user's, since\n")

    status, out = run_cli(capsys, "--repo", str(project), "reproduce", "a1", "--code", str(project))
    assert status == 0, out  # before: the re-run tested the checkout's code (answer 2)
    lines = out.splitlines()
    assert next(line for line in lines if line.startswith("answer")).endswith("same")
    assert (
        f"  note     argument --rootdir={project}: in your checkout; the worktree's instead"
        in lines
    )
    assert f"  note     argument {project}: in your checkout; the worktree's instead" in lines
    assert f"  note     --basetemp {basetemp}: the re-run's temporary directory instead" in lines
    assert (basetemp / "keep.txt").is_file()  # pytest empties its basetemp first
    assert worktrees(project, git) == [str(project)]
    assert git(project, "status", "--porcelain") == ""


def test_pytests_environment_is_recorded_and_rerun(
    project: Path,
    git: GitRunner,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (project / "test_other.py").write_text("def test_other():\n    pass\n")
    (project / "pytest.ini").write_text(INI + "artifact_store_allow_partial = true\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "a second test")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -k answer")
    proc = record(project, "--artifact-correlation-id=o1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recorded = capsule_of(project, git, "corr_o1")["pytest"]
    assert recorded["env"] == {
        "PYTEST_ADDOPTS": "-p no:hypothesispytest -k answer",
        "PYTEST_PLUGINS": None,
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": None,
    }
    assert recorded["node_ids"] == ["test_answer.py::test_answer"]
    assert recorded["command"] == (
        "pytest -q -p no:cacheprovider --artifact-store --artifact-no-push "
        "--artifact-correlation-id=o1"
    )

    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -k other")  # yours today
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the plugin would not load
    status, out = run_cli(capsys, "--repo", str(project), "reproduce", "o1", "--code", str(project))
    assert status == 0, out
    assert "test_report.json  same outcomes  1 passed" in out


def test_a_secret_beside_its_option_name_is_refused_not_recorded(
    project: Path, git: GitRunner
) -> None:
    (project / "conftest.py").write_text(
        "def pytest_addoption(parser):\n    parser.addoption('--api-token')\n"
    )
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "an option")
    token = "Zq8vR2mXk4LpT9wY3nB6"
    proc = record(project, "--artifact-correlation-id=s1", "--api-token", token)
    assert proc.returncode != 0
    assert "commit refused: refusing to commit" in proc.stdout
    assert "(token-assignment: Zq8v…)" in proc.stdout and token not in proc.stdout
    assert git(project, "for-each-ref", "refs/tags", "refs/heads/ai") == ""


def test_the_rerun_has_no_terminal_to_wait_for(tmp_path: Path) -> None:
    """A recorded --pdb (or input() under -s) waited, unseen, for keys that never came."""
    probe = "import os, sys; print(os.path.samestat(os.fstat(0), os.stat(os.devnull)))"
    saved = os.dup(0)
    read, write = os.pipe()  # what a terminal would be: open, never written
    try:
        os.dup2(read, 0)
        code, output = reproduce._run([sys.executable, "-c", probe], tmp_path, dict(os.environ))
    finally:
        os.dup2(saved, 0)
        for fd in (saved, read, write):
            os.close(fd)
    assert (code, output.strip()) == (0, "True")


def test_a_second_ctrl_c_while_cleaning_up_still_removes_the_worktree(
    project: Path,
    git: GitRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proc = record(project, "--artifact-correlation-id=c1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))

    def interrupted(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
        raise KeyboardInterrupt

    from pytest_artifact_store.git import process

    real = process.run_git
    pressed: list[list[str]] = []

    def run_git(args: list[str], **kwargs: Any) -> Any:
        if args[:2] == ["worktree", "remove"] and not pressed:
            pressed.append(args)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C again, as the cleanup starts
        return real(args, **kwargs)

    monkeypatch.setattr(reproduce, "_run", interrupted)
    monkeypatch.setattr(process, "run_git", run_git)
    status, out = run_cli(capsys, "--repo", str(project), "reproduce", "c1", "--code", str(project))
    assert (status, out) == (130, "artifact-store: interrupted\n")
    assert pressed
    assert worktrees(project, git) == [str(project)]
    assert list(scratch.iterdir()) == []


def test_names_that_are_not_utf8_are_recorded_escaped(repo: Path, git: GitRunner) -> None:
    (repo / "data").mkdir()
    try:
        (repo / os.fsdecode(b"data/\xff.csv")).write_text("a,b\n1,2\n")
        (repo / os.fsdecode(b"notes-\xfe.txt")).write_text("by hand\n")
    except (OSError, UnicodeError):
        pytest.skip("this file system takes UTF-8 names only")
    request = capture.Request(str(repo), str(repo), ["data/*.csv"], str(repo))
    captured = capture.capture(request)  # before: UnicodeEncodeError refused the commit
    json.dumps(captured, ensure_ascii=False).encode()
    assert list(captured["inputs"]["sha256"]) == ["data/\\xff.csv"]
    assert captured["code"]["dirty"] and captured["code"]["untracked_files"] == 2

    from pytest_artifact_store.capsule import verify

    inputs = captured["inputs"]
    now = verify.current_inputs(inputs, repo)
    assert verify.compare_inputs(inputs, now) == []  # found again under the escaped name


def test_bytecode_caches_are_not_code(repo: Path, git: GitRunner) -> None:
    """A repository that does not ignore __pycache__ made every version dirty: the
    bytecode of conftest.py is written before the session starts."""
    for folder in (repo / "__pycache__", repo / "src" / "__pycache__"):
        folder.mkdir()
        (folder / "app.cpython-311.pyc").write_bytes(b"\x00bytecode")
    assert capture.code_state(repo) == capture.CodeState(repo, git(repo, "rev-parse", "HEAD"))
    (repo / "src" / "app.py").write_text("print('changed')\n")
    assert capture.code_state(repo).changed_files == 1


def test_an_ignored_invocation_directory_is_made_in_the_worktree(
    project: Path, git: GitRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".gitignore").write_text("__pycache__/\nbuild/\n")
    git(project, "commit", "-q", "-am", "build/ is ignored")
    (project / "build").mkdir()
    proc = record(project, "--artifact-correlation-id=b1", "..", cwd=project / "build")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert capsule_of(project, git, "corr_b1")["code"]["invocation_dir"] == "build"
    status, out = run_cli(capsys, "--repo", str(project), "reproduce", "b1", "--code", str(project))
    assert status == 0, out  # before: 'No such file or directory: .../tree/build'
    assert "(in build)" in out


def test_recorded_inputs_are_never_copied_out_of_the_worktree(tmp_path: Path) -> None:
    checkout_dir, tree = tmp_path / "home" / "me" / "project", tmp_path / "tmp" / "tree"
    for folder in (checkout_dir / "data", checkout_dir / "out", tree / "data"):
        folder.mkdir(parents=True)
    for name in ("data/prices.csv", "../x.csv", "out/x.csv"):
        (checkout_dir / name).write_text("p\n")
    os.symlink(tmp_path / "elsewhere", tree / "out")  # a link in the commit
    recorded = {"sha256": dict.fromkeys(["data/prices.csv", "../x.csv", "out/x.csv"], "0" * 64)}
    notes = reproduce.place_inputs(recorded, tree, checkout_dir)
    assert (tree / "data" / "prices.csv").read_text() == "p\n"
    assert not (tmp_path / "tmp" / "x.csv").exists() and not (tmp_path / "elsewhere").exists()
    assert notes == [
        "input data/prices.csv: not in the commit: copied from your checkout",
        "input ../x.csv: not copied (its path leads out of the worktree)",
        "input out/x.csv: not copied (its path leads out of the worktree)",
    ]


def test_pytest_randomlys_seed_is_given_to_the_rerun(
    project: Path,
    git: GitRunner,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """pytest-randomly reseeds ``random`` before each test with a new seed each session:
    the version's seed (its report's random_seed) is the re-run's."""
    isolated = Path(sys.prefix) / "isolated-plugins"
    if not (isolated / "pytest_randomly").is_dir():
        pytest.skip(f"pytest-randomly is installed in {isolated} by `make` (not found)")
    (project / "test_answer.py").write_text(
        "import random\n\ndef test_answer(artifact_store):\n"
        "    artifact_store.record_metric('answer', random.random())\n"
    )
    git(project, "commit", "-q", "-am", "a random answer")
    monkeypatch.setenv("PYTHONPATH", str(isolated))  # the sessions ...
    monkeypatch.syspath_prepend(str(isolated))  # ... and reproduce, which looks it up
    proc = record(project, "--artifact-correlation-id=r1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seed = json.loads(git(project, "show", "corr_r1:Backtest/codes/t_a/test_report.json"))[
        "random_seed"
    ]
    status, out = run_cli(capsys, "--repo", str(project), "reproduce", "r1", "--code", str(project))
    assert status == 0, out  # before: another seed, another answer
    assert f"  note     --randomly-seed={seed}: pytest-randomly's seed of the session" in out


def test_a_submodule_at_another_commit_changes_the_dirty_digest(
    repo: Path, git: GitRunner, tmp_path: Path
) -> None:
    """A changed submodule entered the digest as 'directory': any two commits it was
    checked out at gave the same digest, and verify said the code matched."""
    lib = tmp_path / "lib"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "main")
    for value in (1, 2, 3):
        (lib / "libval.py").write_text(f"VALUE = {value}\n")
        git(lib, "add", "-A")
        git(lib, "commit", "-q", "-m", f"v{value}")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(repo, "commit", "-q", "-m", "lib at v3")
    assert not capture.code_state(repo).dirty
    git(repo / "lib", "checkout", "-q", "HEAD~2")
    at_v1 = capture.code_state(repo)
    git(repo / "lib", "checkout", "-q", "main~1")
    at_v2 = capture.code_state(repo)
    assert at_v1.dirty and at_v2.dirty and at_v1.changed_files == 1
    assert at_v1.diff_sha256 != at_v2.diff_sha256
    (repo / "lib" / "libval.py").write_text("VALUE = 2  # edited\n")
    assert capture.code_state(repo).diff_sha256 != at_v2.diff_sha256
    git(repo / "lib", "checkout", "-q", "--", "libval.py")
    assert capture.code_state(repo).diff_sha256 == at_v2.diff_sha256


def test_a_last_failed_session_reruns_the_same_tests(
    project: Path,
    git: GitRunner,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--lf`` selects from pytest's cache, which a fresh worktree lacks: it ran every
    test, and the report's outcomes differed ('not run → passed')."""
    (project / "test_other.py").write_text(
        "import os\n\ndef test_other():\n    assert os.environ.get('FIXED')\n"
    )
    (project / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
    (project / "pytest.ini").write_text(INI + "artifact_store_allow_partial = true\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "a test that fails")
    pytest_cmd = [sys.executable, "-m", "pytest", "-q"]
    subprocess.run(pytest_cmd, cwd=project, capture_output=True, check=False)
    proc = subprocess.run(
        [
            *pytest_cmd,
            "--lf",
            "--artifact-store",
            "--artifact-no-push",
            "--artifact-correlation-id=l1",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "FIXED": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert capsule_of(project, git, "corr_l1")["pytest"]["node_ids"] == [
        "test_other.py::test_other"
    ]
    monkeypatch.setenv("FIXED", "1")  # the re-run's environment
    status, out = run_cli(capsys, "--repo", str(project), "reproduce", "l1", "--code", str(project))
    assert status == 0, out
    assert "  note     --lf: the re-run's last failures are the version's tests (1)" in out
    assert "test_report.json  same outcomes  1 passed" in out


def test_code_on_pythonpath_is_imported_from_the_worktree(
    project: Path,
    git: GitRunner,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PYTHONPATH=<checkout>/src: the re-run imported the checkout's code, not the
    commit's (and said the version was not reproduced, or that it was)."""
    (project / "src").mkdir()
    (project / "src" / "mylib.py").write_text("VALUE = 1\n")
    (project / "test_answer.py").write_text(
        "import mylib\n\ndef test_answer(artifact_store):\n"
        "    artifact_store.record_metric('answer', mylib.VALUE)\n"
    )
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "a library")
    monkeypatch.setenv("PYTHONPATH", str(project / "src"))
    proc = record(project, "--artifact-correlation-id=p1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (project / "src" / "mylib.py").write_text("VALUE = 2\n")
    git(project, "commit", "-q", "-am", "the library moves on")
    status, out = run_cli(capsys, "--repo", str(project), "reproduce", "p1", "--code", str(project))
    assert status == 0, out
    entry = project / "src"
    assert f"  note     PYTHONPATH entry {entry}: in your checkout; the worktree's instead" in out


def test_editable_installs_from_the_checkout_are_imported_from_the_worktree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pip install -e .``: a .pth line (hatchling, flit, setuptools' compat mode) or
    setuptools' finder maps the package to the checkout, ahead of the worktree."""
    checkout_dir, tree, site = tmp_path / "project", tmp_path / "tree", tmp_path / "site"
    for folder in ("src/pkg_a", "lib/pkg_b", ".venv/extra"):
        (checkout_dir / folder).mkdir(parents=True)
    for folder in ("src/pkg_a", "lib/pkg_b"):
        (tree / folder).mkdir(parents=True)

    def editable(name: str, files: dict[str, str], url: str) -> None:
        info = site / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "direct_url.json").write_text(
            json.dumps({"url": url, "dir_info": {"editable": True}})
        )
        for file, text in files.items():
            (site / file).write_text(text)
        record_lines = [*files, f"{info.name}/METADATA", f"{info.name}/direct_url.json"]
        (info / "RECORD").write_text("".join(f"{line},,\n" for line in record_lines))

    editable(
        "pkg-a", {"__editable__.pkg_a-1.0.pth": f"{checkout_dir / 'src'}\n"}, checkout_dir.as_uri()
    )
    finder = f"MAPPING: dict[str, str] = {{'pkg_b': {str(checkout_dir / 'lib' / 'pkg_b')!r}}}\n"
    editable("pkg-b", {"__editable___pkg_b_1_0_finder.py": finder}, checkout_dir.as_uri())
    elsewhere = tmp_path / "other"
    editable("pkg-c", {"__editable__.pkg_c-1.0.pth": f"{elsewhere}\n"}, elsewhere.as_uri())
    monkeypatch.syspath_prepend(str(site))

    assert reproduce.editable_roots(checkout_dir) == {
        "pkg-a": [str(checkout_dir / "src")],
        "pkg-b": [str(checkout_dir / "lib")],
    }
    env = {"PYTHONPATH": os.pathsep.join([str(checkout_dir / ".venv" / "extra"), "/opt/x"])}
    notes = reproduce.rebase_pythonpath(env, checkout_dir, tree)
    assert env["PYTHONPATH"].split(os.pathsep) == [
        str(tree / "src"),
        str(tree / "lib"),
        str(checkout_dir / ".venv" / "extra"),  # untracked: the commit has none
        "/opt/x",
    ]
    assert notes == [
        "pkg-a is installed in editable mode from your checkout: imported from the "
        "worktree's src instead",
        "pkg-b is installed in editable mode from your checkout: imported from the "
        "worktree's lib instead",
    ]


def test_recorded_arguments_write_nothing_outside_the_reproduction(tmp_path: Path) -> None:
    checkout_dir, top = tmp_path / "project", tmp_path / "reproduce"
    tree = top / "tree"
    for folder in (checkout_dir / "tests", checkout_dir / ".venv", tree / "tests"):
        folder.mkdir(parents=True)
    args = [
        "-o",
        f"cache_dir={checkout_dir}/.cache",  # not in either: a path to write
        f"--junitxml={tmp_path}/ci/junit.xml",
        "--report-log",
        f"{checkout_dir}/log.jsonl",
        f"--debug={tmp_path}/debug.log",
        f"{checkout_dir}/tests",
        f"{checkout_dir}/.venv",  # the commit has none: yours
        "/opt/data",
        f"--artifact-repo={tmp_path}/store",
    ]
    out, notes = reproduce.rebase_args(args, checkout_dir, tree, top)
    assert out == [
        "-o",
        f"cache_dir={tree}/.cache",
        f"--junitxml={top}/outputs/junit.xml",
        "--report-log",
        f"{top}/outputs/log.jsonl",
        f"--debug={top}/outputs/debug.log",
        f"{tree}/tests",
        f"{checkout_dir}/.venv",
        "/opt/data",
        f"--artifact-repo={tmp_path}/store",
    ]
    assert notes == [
        f"argument cache_dir={checkout_dir}/.cache: in your checkout; the worktree's instead",
        f"--junitxml {tmp_path}/ci/junit.xml: the re-run's temporary directory instead",
        f"--report-log {checkout_dir}/log.jsonl: the re-run's temporary directory instead",
        f"--debug {tmp_path}/debug.log: the re-run's temporary directory instead",
        f"argument {checkout_dir}/tests: in your checkout; the worktree's instead",
        f"arguments outside the commit, used as recorded: {checkout_dir}/.venv /opt/data",
    ]


def test_only_the_reproductions_worktree_is_unregistered(
    project: Path,
    git: GitRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """'git worktree prune' also dropped your worktree whose directory was away (an
    unmounted drive): back, it was 'not a git repository'."""
    proc = record(project, "--artifact-correlation-id=w1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    away = tmp_path / "usb" / "feature"
    git(project, "worktree", "add", "-q", "-b", "feature", str(away))
    away.rename(tmp_path / "usb" / "unmounted")

    from pytest_artifact_store.git import process

    real = process.run_git

    def run_git(args: list[str], **kwargs: Any) -> Any:
        if args[:2] == ["worktree", "remove"]:  # git could not: its entry is ours to drop
            return real(["--version"], **kwargs)
        return real(args, **kwargs)

    monkeypatch.setattr(process, "run_git", run_git)
    status, out = run_cli(capsys, "--repo", str(project), "reproduce", "w1", "--code", str(project))
    assert status == 0, out
    assert worktrees(project, git) == [str(project), str(away)]
    (tmp_path / "usb" / "unmounted").rename(away)
    assert git(away, "rev-parse", "--abbrev-ref", "HEAD") == "feature"


@pytest.mark.parametrize("commit", ["HEAD", "main", "--output=/tmp/x", "0" * 39])
def test_a_recorded_commit_is_a_commit_id_never_a_ref_or_an_option(
    commit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metadata comes from wherever the store was fetched from: 'HEAD' checked out your
    own HEAD and called it the version's code."""
    from pytest_artifact_store.errors import ArtifactStoreError

    entry = {"correlation_id": "x", "capsule": {"version": 1, "code": {"commit": commit}}}
    monkeypatch.setattr(reproduce, "resolve", lambda store, ref: entry)
    with pytest.raises(ArtifactStoreError, match="is no commit id"):
        reproduce.reproduce(None, "x")  # type: ignore[arg-type]


def test_a_code_directory_that_is_not_there_is_named(tmp_path: Path) -> None:
    state = capture.code_state(tmp_path / "nowhere")  # was: 'is git installed and on PATH?'
    assert state.problem == f"{tmp_path / 'nowhere'} is not a directory"
