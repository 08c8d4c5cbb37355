"""The hooks for real: pre-commit try-repo, plain git hooks on real commits and pushes."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GitRunner
from corpus import MAKERS

from pytest_artifact_store.cli import main as cli_main
from pytest_artifact_store.hooks import githooks
from pytest_artifact_store.hooks.secrets_hook import main as secrets_main

PROJECT = Path(__file__).resolve().parents[1]
RNG = random.Random(7)


def secret() -> str:
    return MAKERS["stripe-live"](RNG)


def run_git(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("files", "code", "expected"),
    [
        ({"clean.py": "x = 1\n"}, 0, []),
        ({"a.py": "x = 1\nKEY = '{s}'\n"}, 1, ["{d}/a.py:2: stripe-secret-key {p}"]),
        ({"a.py": "KEY = '{s}'  # pragma: allowlist secret\n"}, 0, []),
        # binary files are searched for provider formats (a key in a pickle still leaks)
        ({"img.png": b"\x89PNG\x00\x00{s}"}, 1, ["{d}/img.png:1: stripe-secret-key {p}"]),
        ({"img.png": b"\x89PNG" + bytes(range(1, 9)) * 8 + b"password = 'Zq9xLw2vR7'"}, 0, []),
    ],
)
def test_secrets_hook_main(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str | bytes],
    code: int,
    expected: list[str],
) -> None:
    value = secret()
    names = []
    for name, content in files.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content.replace(b"{s}", value.encode()))
        else:
            path.write_text(content.format(s=value))
        names.append(str(path))
    assert secrets_main(names) == code
    out = capsys.readouterr()
    assert out.out.splitlines() == [e.format(d=tmp_path, p=value[:4] + "…") for e in expected]
    assert value not in out.out + out.err


def test_secrets_hook_bad_pattern_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    assert secrets_main(["--pattern", "(", str(tmp_path / "a.py")]) == 2
    assert "invalid secret pattern" in capsys.readouterr().err


def test_manifest_hooks_are_documented_and_entries_exist() -> None:
    manifest = (PROJECT / ".pre-commit-hooks.yaml").read_text()
    ids = re.findall(r"^- id: (\S+)", manifest, re.MULTILINE)
    entries = re.findall(r"^  entry: (\S+)", manifest, re.MULTILINE)
    assert ids == ["artifact-store-secrets", "artifact-store-metadata"]
    assert "language: python" in manifest
    pyproject = (PROJECT / "pyproject.toml").read_text()
    readme = (PROJECT / "README.md").read_text()
    hooks_section = readme[readme.index("## Hooks") :]
    for hook_id, entry in zip(ids, entries, strict=True):
        assert f'{entry} = "pytest_artifact_store.hooks.' in pyproject
        assert f"id: {hook_id}" in hooks_section


@pytest.mark.parametrize("name", githooks.HOOK_NAMES)
def test_top_level_hooks_are_the_packaged_ones(name: str) -> None:
    top = PROJECT / "hooks" / name
    packaged = PROJECT / "pytest_artifact_store" / "hooks" / name
    assert top.read_text() == packaged.read_text()
    assert os.access(top, os.X_OK)


# --------------------------------------------------------------------- plain git hooks


@pytest.fixture
def hooked(repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The ``repo`` fixture with both plain hooks installed by the command."""
    assert cli_main(["install-hooks", "--repo", str(repo)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["installed", "installed"]
    return repo


def test_commit_is_blocked_when_the_index_holds_a_secret_but_the_work_tree_does_not(
    hooked: Path, git: GitRunner
) -> None:
    value = secret()
    config = hooked / "config.py"
    config.write_text(f"STRIPE_KEY = '{value}'\n")
    git(hooked, "add", "config.py")
    config.write_text(
        "import os\nSTRIPE_KEY = os.environ['STRIPE_KEY']\n"
    )  # the work tree is clean
    proc = run_git(hooked, "commit", "-q", "-m", "add config")
    assert proc.returncode != 0
    assert "config.py:1: stripe-secret-key " + value[:4] + "…" in proc.stderr  # hooks print there
    assert value not in proc.stdout + proc.stderr
    assert git(hooked, "rev-list", "--count", "HEAD") == "1"  # nothing was committed
    git(hooked, "add", "config.py")  # stage the clean version
    assert run_git(hooked, "commit", "-q", "-m", "add config").returncode == 0
    assert git(hooked, "rev-list", "--count", "HEAD") == "2"


def test_commit_all_scans_the_index_being_committed(hooked: Path, git: GitRunner) -> None:
    (hooked / "src" / "app.py").write_text(f"TOKEN = '{secret()}'\n")
    proc = run_git(hooked, "commit", "-a", "-q", "-m", "oops")  # GIT_INDEX_FILE is a temp index
    assert proc.returncode != 0
    assert "src/app.py:1: stripe-secret-key" in proc.stderr


def test_commit_is_blocked_by_an_invalid_staged_metadata_file(hooked: Path, git: GitRunner) -> None:
    task = hooked / "Backtest" / "codes" / "t1"
    task.mkdir(parents=True)
    (task / "metadata.json").write_text('{"workflow_id": "wf", "task_id": "t1"}\n')
    git(hooked, "add", "Backtest")
    proc = run_git(hooked, "commit", "-q", "-m", "meta")
    assert proc.returncode != 0
    assert "Backtest/codes/t1/metadata.json: commit_timestamp: required field is missing" in (
        proc.stderr
    )


def test_push_is_blocked_when_a_pushed_commit_adds_a_secret(
    hooked: Path, git: GitRunner, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(hooked, "remote", "add", "origin", str(remote))
    assert run_git(hooked, "push", "-q", "origin", "main").returncode == 0
    value = secret()
    (hooked / "leak.log").write_text(f"2025-01-02 INFO key={value}\n")
    git(hooked, "add", "leak.log")
    git(hooked, "commit", "-q", "--no-verify", "-m", "leak")
    (hooked / "leak.log").unlink()
    git(hooked, "commit", "-q", "-a", "-m", "remove the leak (still in history)")
    proc = run_git(hooked, "push", "origin", "main")
    assert proc.returncode != 0
    assert "leak.log:1: stripe-secret-key" in proc.stdout + proc.stderr
    assert value not in proc.stdout + proc.stderr
    assert git(remote, "rev-list", "--count", "main") == "1"


def test_install_refuses_to_clobber_a_foreign_hook(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hooks = githooks.hooks_dir(repo)
    hooks.mkdir(parents=True, exist_ok=True)
    (hooks / "pre-commit").write_text("#!/bin/sh\necho mine\n")
    assert cli_main(["install-hooks", "--repo", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "already exists and was not installed by pytest-artifact-store" in err
    assert "--chain" in err and "--force" in err
    assert (hooks / "pre-commit").read_text() == "#!/bin/sh\necho mine\n"
    assert not (hooks / "pre-push").exists()


def test_install_chains_to_a_foreign_hook(repo: Path, git: GitRunner) -> None:
    hooks = githooks.hooks_dir(repo)
    hooks.mkdir(parents=True, exist_ok=True)
    marker = repo.parent / "chained-ran"
    (hooks / "pre-commit").write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    (hooks / "pre-commit").chmod(0o755)
    assert cli_main(["install-hooks", "--repo", str(repo), "--chain"]) == 0
    (repo / "a.txt").write_text("fine\n")
    git(repo, "add", "a.txt")
    assert run_git(repo, "commit", "-q", "-m", "a").returncode == 0
    assert marker.exists()
    assert cli_main(["install-hooks", "--repo", str(repo)]) == 0  # ours now: updated in place


def test_install_force_keeps_a_backup(repo: Path) -> None:
    hooks = githooks.hooks_dir(repo)
    hooks.mkdir(parents=True, exist_ok=True)
    (hooks / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    assert cli_main(["install-hooks", "--repo", str(repo), "--force", "--hook", "pre-push"]) == 0
    assert (hooks / "pre-push.bak").read_text() == "#!/bin/sh\nexit 0\n"
    assert githooks.MARKER in (hooks / "pre-push").read_text()
    assert not (hooks / "pre-commit").exists()


def test_install_honours_core_hooks_path(repo: Path, git: GitRunner) -> None:
    git(repo, "config", "core.hooksPath", ".githooks")
    assert cli_main(["install-hooks", "--repo", str(repo)]) == 0
    assert (repo / ".githooks" / "pre-commit").exists()


def test_git_env_strips_inherited_git_variables() -> None:
    env = githooks.git_env(
        {
            "GIT_DIR": "/x/.git",
            "GIT_WORK_TREE": "/x",
            "GIT_INDEX_FILE": ".git/index.lock",
            "GIT_SSH_COMMAND": "ssh -i k",
            "PATH": "/bin",
        }
    )
    assert env == {
        "GIT_INDEX_FILE": os.path.abspath(".git/index.lock"),
        "GIT_SSH_COMMAND": "ssh -i k",
        "PATH": "/bin",
        "GIT_TERMINAL_PROMPT": "0",  # a hook never waits for a password
        "LC_ALL": "C",  # git's messages are parsed
    }


# --------------------------------------------------------------------- pre-commit framework


def test_pre_commit_try_repo(repo: Path, tmp_path: Path, git: GitRunner) -> None:
    """The manifest works through the real pre-commit (builds the hook's venv from PyPI)."""
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    value = secret()
    (repo / "settings.py").write_text(f"API_KEY = '{value}'\n")
    (repo / "clean.py").write_text("import os\nAPI_KEY = os.environ['API_KEY']\n")
    git(repo, "add", "settings.py", "clean.py")

    def try_repo(hook: str, *files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "try-repo", str(PROJECT), hook, "--files", *files],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )

    blocked = try_repo("artifact-store-secrets", "settings.py")
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert f"settings.py:1: stripe-secret-key {value[:4]}…" in blocked.stdout
    assert value not in blocked.stdout
    clean = try_repo("artifact-store-secrets", "clean.py")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    task = repo / "Backtest" / "codes" / "t1"
    task.mkdir(parents=True)
    (task / "metadata.json").write_text('{"workflow_id": "wf"}\n')
    git(repo, "add", "Backtest")
    meta = try_repo("artifact-store-metadata", "Backtest/codes/t1/metadata.json")
    assert meta.returncode == 1
    assert "task_id: required field is missing" in meta.stdout
